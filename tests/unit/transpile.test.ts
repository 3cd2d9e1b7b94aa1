// The tools run under ts-node with tools/ts-transpile.js (tsconfig.json "ts-node"), whose cache the engine's
// loader (tools/ts-register.js, tests/unit/register.test.ts) shares: its output must be what ts-node's own
// transpile-only mode gives, served from the cache only while the file is unchanged, and a syntax error
// must still fail the run.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { create, Service } from "ts-node";
import { ROOT } from "./harness";

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-ts-cache-"));
let saved: string | undefined;
beforeAll(() => {
  saved = process.env.LAB_TS_CACHE_DIR;
  process.env.LAB_TS_CACHE_DIR = cacheDir;
});
afterAll(() => {
  if (saved === undefined) delete process.env.LAB_TS_CACHE_DIR;
  else process.env.LAB_TS_CACHE_DIR = saved;
  fs.rmSync(cacheDir, { recursive: true, force: true });
  fs.rmSync(`${cacheDir}-tsconfig.json`, { force: true });
});

const tsconfig = path.join(ROOT, "tsconfig.json");
/** ts-node as the tools get it: the project's tsconfig, transpile-only, its "ts-node" transpiler. */
const tools = (): Service => create({ project: tsconfig, transpileOnly: true });
/** ts-node's built-in transpile-only mode: the same compiler options, no "ts-node" section. */
const plain = (): Service => {
  const { compilerOptions } = JSON.parse(fs.readFileSync(tsconfig, "utf8")) as { compilerOptions: object };
  const file = `${cacheDir}-tsconfig.json`;
  fs.writeFileSync(file, JSON.stringify({ compilerOptions }));
  return create({ project: file, transpileOnly: true });
};

const programFiles = ["index.ts", ...["config", "specs", "components"].flatMap((d) => fs.readdirSync(path.join(ROOT, d)).filter((f) => f.endsWith(".ts")).map((f) => `${d}/${f}`))];

test("tsconfig.json runs the tools transpile-only with the project's transpiler", () => {
  const text = fs.readFileSync(tsconfig, "utf8");
  const options = (JSON.parse(text) as { "ts-node"?: { transpileOnly?: boolean; transpiler?: string } })["ts-node"];
  expect(options).toEqual({ transpileOnly: true, transpiler: "./tools/ts-transpile.js" });
});

test("every program file transpiles exactly as ts-node's own transpile-only mode, from a cold and a warm cache", () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const reference = plain();
  for (const round of ["cold", "warm"]) {
    const service = tools();
    for (const file of programFiles) {
      const name = path.join(ROOT, file);
      const code = fs.readFileSync(name, "utf8");
      expect({ round, file, out: service.compile(code, name) }).toEqual({ round, file, out: reference.compile(code, name) });
    }
  }
  expect(fs.readdirSync(cacheDir).filter((f) => f.endsWith(".json"))).toHaveLength(programFiles.length);
});

test("a warm cache serves the stored output; a changed file is transpiled again, in the same entry", () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const name = path.join(ROOT, "bench-probe.ts");
  tools().compile("export const weight: number = 10;\n", name);
  const [entry] = fs.readdirSync(cacheDir);
  const file = path.join(cacheDir, entry);
  // Mark the stored output: a hit returns the mark, so the cache (not the compiler) answered.
  const stored = JSON.parse(fs.readFileSync(file, "utf8")) as { outputText: string };
  fs.writeFileSync(file, JSON.stringify({ ...stored, outputText: stored.outputText.replace("= 10", "= 11") }));
  expect(tools().compile("export const weight: number = 10;\n", name)).toContain("exports.weight = 11;");
  expect(tools().compile("export const weight: number = 50;\n", name)).toContain("exports.weight = 50;");
  expect(fs.readdirSync(cacheDir)).toEqual([entry]);
});

test("a syntax error fails the run and is not cached", () => {
  fs.rmSync(cacheDir, { recursive: true, force: true });
  const name = path.join(ROOT, "bench-broken.ts");
  expect(() => tools().compile("export const weight = (10;\n", name)).toThrow(/TS1005/);
  expect(fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir) : []).toEqual([]);
});
