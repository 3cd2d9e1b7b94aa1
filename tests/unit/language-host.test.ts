// scripts/language-host.sh: the launcher that gives the v3.68 language host Pulumi.yaml's runtime
// options as the flags it reads. Run against a fake host binary that prints its arguments.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { ROOT } from "./harness";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-language-host-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
// Installed as toolchain.sh installs it: the launcher beside the host binary, reached through a symlink.
fs.copyFileSync(path.join(ROOT, "scripts", "language-host.sh"), path.join(dir, "launcher"));
fs.chmodSync(path.join(dir, "launcher"), 0o755);
fs.writeFileSync(path.join(dir, "pulumi-language-nodejs"), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', { mode: 0o755 });
fs.mkdirSync(path.join(dir, "bin"));
fs.symlinkSync(path.join(dir, "launcher"), path.join(dir, "bin", "pulumi-language-nodejs"));

/** The arguments the host gets when the CLI starts it in a project folder holding `project`. */
function hostArgs(project: string | undefined): string[] {
  const cwd = fs.mkdtempSync(path.join(dir, "project-"));
  if (project !== undefined) fs.writeFileSync(path.join(cwd, "Pulumi.yaml"), project);
  const out = execFileSync(path.join(dir, "bin", "pulumi-language-nodejs"), ["127.0.0.1:4242"], { cwd, encoding: "utf8" });
  return out.split("\n").filter((l) => l !== "");
}

test("the project's own Pulumi.yaml: typescript off and the loader, as flags", () => {
  expect(hostArgs(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"))).toEqual(["-typescript=false", "-nodeargs=--require ./tools/ts-register.js", "127.0.0.1:4242"]);
});

test("options as the yaml package writes them (the benchmark's projects), quoted or not", () => {
  const runtime = { name: "nodejs", options: { typescript: false, nodeargs: "--require /work/x y/tools/ts-register.js", tsconfig: "tsconfig.json" } };
  expect(hostArgs(stringify({ name: "bench", runtime, main: "index.ts" }))).toEqual(["-typescript=false", "-nodeargs=--require /work/x y/tools/ts-register.js", "-tsconfig=tsconfig.json", "127.0.0.1:4242"]);
  const quoted = 'name: q\nruntime:\n  name: nodejs\n  options:   # for the engine\n    typescript: "true"  # quoted\n    nodeargs: \'--max-old-space-size=4096\'\nmain: index.ts\n';
  expect(hostArgs(quoted)).toEqual(["-typescript=true", "-nodeargs=--max-old-space-size=4096", "127.0.0.1:4242"]);
});

test("no options, no project file, or options outside runtime: the host's defaults", () => {
  expect(hostArgs("name: short\nruntime: nodejs\n")).toEqual(["127.0.0.1:4242"]);
  expect(hostArgs(undefined)).toEqual(["127.0.0.1:4242"]);
  expect(hostArgs("name: other\nruntime:\n  name: nodejs\nplugins:\n  options:\n    typescript: false\n")).toEqual(["127.0.0.1:4242"]);
});
