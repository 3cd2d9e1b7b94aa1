// actionlint (github.com/rhysd/actionlint, built by scripts/actionlint.sh into the lab cache) on every
// workflow of .github/workflows: no finding. A broken workflow proves the lint does fail on findings.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, "..", "..");
const SCRIPT = path.join(ROOT, "scripts", "actionlint.sh");

function lint(files: string[] = []): { status: number | null; output: string } {
  const r = spawnSync("bash", [SCRIPT, ...files], { cwd: ROOT, encoding: "utf8", timeout: 590_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

// A cold cache builds actionlint first and logs that on stderr: build apart, so the lint's output is its findings alone.
beforeAll(() => {
  const r = spawnSync("bash", [SCRIPT, "--build-only"], { cwd: ROOT, encoding: "utf8", timeout: 590_000 });
  if (r.status !== 0) throw new Error(`scripts/actionlint.sh --build-only failed:\n${r.stdout}${r.stderr}`);
});

test("every workflow passes actionlint", () => {
  const workflows = fs.readdirSync(path.join(ROOT, ".github", "workflows")).filter((f) => /\.ya?ml$/.test(f));
  expect(workflows.length).toBeGreaterThanOrEqual(2);
  const r = lint();
  expect({ status: r.status, output: r.output.trim() }).toEqual({ status: 0, output: "" });
});

test("a workflow with an undefined job dependency and a bad expression fails actionlint", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "actionlint-"));
  const file = path.join(dir, "broken.yml");
  fs.writeFileSync(
    file,
    [
      "on: push",
      "jobs:",
      "  a:",
      "    needs: [nowhere]",
      "    runs-on: ubuntu-latest",
      "    steps:",
      "      - run: echo ${{ github.event.pull_request.numbr }}",
      "",
    ].join("\n"),
  );
  try {
    const r = lint([file]);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/nowhere/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
