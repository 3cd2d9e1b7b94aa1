// The engine runs the program through tools/ts-register.js (Pulumi.yaml: typescript false, nodeargs
// --require): each .ts file must run as TypeScript's transpileModule makes it with the project's options,
// served from the cache while the file is unchanged, a syntax error must fail naming file, line and
// column, and stack traces (the SDK's resource source positions among them) must name the .ts lines,
// also after the SDK's launcher has installed source-map-support.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { parse } from "yaml";
import { ROOT } from "./harness";

const REGISTER = path.join(ROOT, "tools", "ts-register.js");
const work = fs.mkdtempSync(path.join(ROOT, "node_modules", ".cache", "lab-register-test-"));
const cacheDir = path.join(work, "cache");
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Runs a .ts file as the language host would: node --require the launcher's source-map-support, then ours. */
function runTs(file: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--require", "source-map-support/register", "--require", REGISTER, file], {
    cwd: ROOT,
    env: { ...process.env, LAB_TS_CACHE_DIR: cacheDir },
    encoding: "utf8",
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function write(name: string, text: string): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, text);
  return file;
}

test("Pulumi.yaml has the engine run the program through tools/ts-register.js, not ts-node", () => {
  const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as { runtime: { options: Record<string, unknown> } };
  expect(project.runtime.options).toEqual({ typescript: false, nodeargs: "--require ./tools/ts-register.js" });
});

// Types and interfaces vanish in the output, so the .ts lines differ from the JavaScript lines.
const PROGRAM = `interface Weights {
  v1: number;
  v2: number;
}
type Named = { name: string };
import * as pulumi from "@pulumi/pulumi";

export function check(w: Weights): Named {
  if (w.v1 + w.v2 !== 100) throw new Error("weights must sum to 100");
  return { name: "ok" };
}
class Probe {
  readonly position: unknown;
  constructor() {
    this.position = (pulumi.Resource as unknown as { stackTrace(skip: number): unknown[] }).stackTrace(1)[0];
  }
}
function where(): unknown {
  return new Probe().position;
}
console.log(JSON.stringify({ position: where() }));
try {
  check({ v1: 90, v2: 20 });
} catch (e) {
  console.log((e as Error).stack);
}
`;

test("a program runs as transpiled, its traces name the .ts lines, and a warm run is served by the cache", () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const file = write("probe.ts", PROGRAM);
  const runs = [runTs(file)];
  // Mark the stored output: the second run prints the mark only if the cache, not the compiler, answered.
  const [entry] = fs.readdirSync(cacheDir);
  const stored = JSON.parse(fs.readFileSync(path.join(cacheDir, entry), "utf8")) as { outputText: string };
  fs.writeFileSync(path.join(cacheDir, entry), JSON.stringify({ ...stored, outputText: stored.outputText.replace("sum to 100", "sum to 100 (cached)") }));
  runs.push(runTs(file));
  for (const [i, r] of runs.entries()) {
    expect({ i, status: r.status, stderr: r.stderr }).toEqual({ i, status: 0, stderr: "" });
    const [first, ...trace] = r.stdout.trim().split("\n");
    const info = JSON.parse(first) as { position: { uri: string; line: number } };
    // Pulumi's own parse of the trace: the Probe asks for it on line 15 of the .ts file.
    expect(info.position).toMatchObject({ uri: `file://${file}`, line: 15 });
    expect(trace[0]).toBe(`Error: weights must sum to 100${i === 1 ? " (cached)" : ""}`);
    expect(trace[1]).toBe(`    at check (${file}:9:34)`);
    expect(trace[2]).toBe(`    at Object.<anonymous> (${file}:23:3)`);
  }
  expect(fs.readdirSync(cacheDir)).toHaveLength(1);
});

test("the output is TypeScript's transpileModule with the project's compiler options", () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const file = path.join(ROOT, "specs", "routes.ts");
  const r = spawnSync(process.execPath, ["--require", REGISTER, "-e", `require(${JSON.stringify(file)})`], { cwd: ROOT, env: { ...process.env, LAB_TS_CACHE_DIR: cacheDir }, encoding: "utf8" });
  expect(r.status).toBe(0);
  // routes.ts and the modules it imports, each in an entry of its own.
  const stored = fs.readdirSync(cacheDir).map((e) => (JSON.parse(fs.readFileSync(path.join(cacheDir, e), "utf8")) as { outputText: string }).outputText);
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  const options = { ...config?.options, sourceMap: true, inlineSourceMap: false, inlineSources: false, declaration: false, noEmit: false };
  const expected = ts.transpileModule(fs.readFileSync(file, "utf8"), { fileName: file, compilerOptions: options });
  expect(stored).toContain(expected.outputText);
  expect(stored.length).toBeGreaterThan(1);
  expect(options.target).toBe(ts.ScriptTarget.ES2022);
});

test("a syntax error fails the run naming file, line and column, and is not cached", () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const file = write("broken.ts", "const weights: number[] = [90, 10];\nexport const total = (weights[0] + ;\n");
  const r = runTs(file);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toContain(`${file}:2:36 - error TS1109: Expression expected.`);
  expect(fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir) : []).toEqual([]);
});

test("a changed file is transpiled again: the cache never serves stale code", () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const file = write("weight.ts", "const weight: number = 10;\nconsole.log(weight);\n");
  expect(runTs(file).stdout).toBe("10\n");
  write("weight.ts", "const weight: number = 50;\nconsole.log(weight);\n");
  expect(runTs(file).stdout).toBe("50\n");
  expect(fs.readdirSync(cacheDir)).toHaveLength(1);
});
