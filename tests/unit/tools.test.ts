// The project's tools refuse a bad stack the way the program does: the message naming each key, no
// stack trace, a non-zero exit.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "./harness";

const stack = `tooltest-${process.pid}`;
const stackFile = path.join(ROOT, `Pulumi.${stack}.yaml`);

beforeAll(() => {
  fs.writeFileSync(
    stackFile,
    [
      "config:",
      "  kubeadm-istio-lab:trafic:",
      "    reviews: {active: v2}",
      "  kubeadm-istio-lab:nodes:",
      "    - {name: nieve, role: controlPlane, address: 192.0.2.300}",
      "  kubeadm-istio-lab:sshPrivateKeyPath: ~/.ssh/id_ed25519",
      "",
    ].join("\n"),
  );
});
afterAll(() => fs.rmSync(stackFile, { force: true }));

function tool(file: string, args: string[]) {
  return spawnSync(path.join(ROOT, "node_modules", ".bin", "ts-node"), ["--transpile-only", path.join(ROOT, "tools", file), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
}

const noTrace = /^\s+at .*:\d+:\d+\)?$/m;

test.each([["render.ts"], ["routes.ts"]])("%s prints the config problems alone and exits 1", (file) => {
  const r = tool(file, ["--stack", stack]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/invalid stack config \(2 problems\); nothing was changed/);
  expect(r.stderr).toMatch(/kubeadm-istio-lab:trafic: unknown key of this project; did you mean kubeadm-istio-lab:traffic\?/);
  expect(r.stderr).toMatch(/kubeadm-istio-lab:nodes\[0\]\.address: "192\.0\.2\.300" is not a valid IPv4 address/);
  expect(r.stderr).not.toMatch(noTrace);
  expect(r.stdout).toBe("");
});

test("a stack that does not exist is a usage message, not a trace", () => {
  const r = tool("render.ts", ["--stack", "no-such-stack"]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^render: no stack file .*Pulumi\.no-such-stack\.yaml; stacks here: .*dev/);
  expect(r.stderr).not.toMatch(noTrace);
});

test("summary's usage mistakes are messages too", () => {
  const r = tool("summary.ts", ["--format", "pdf", "--from", "x.json"]);
  expect(r.status).toBe(2); // summary's usage exit
  expect(r.stderr).toMatch(/^summary: --format: md or text, not pdf/);
  expect(r.stderr).not.toMatch(noTrace);
});
