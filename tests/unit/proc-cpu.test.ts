// tools/proc-cpu.ts: the benchmark's CPU figures per process, from /proc; and its SDK-trimmed variant.
import { execFileSync, spawn } from "child_process";
import * as path from "path";
import { CpuSampler, parseProcStat } from "../../tools/proc-cpu";
import { ROOT } from "./harness";

test("stat fields are counted from the last parenthesis: a command name may hold spaces and parentheses", () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const line = "4242 (node (run) x) S 17 4242 17 0 -1 4194560 900 0 0 0 312 45 0 0 20 0 11 0 1234";
  expect(parseProcStat(line)).toEqual({ pid: 4242, comm: "node (run) x", ppid: 17, ticks: 357 });
  expect(parseProcStat("garbage")).toBeUndefined();
  expect(parseProcStat("12 (x) S notanumber")).toBeUndefined();
});

test("this process's own stat parses, with its parent", async () => {
  const { readFileSync } = await import("fs");
  const s = parseProcStat(readFileSync("/proc/self/stat", "utf8"));
  expect(s?.pid).toBeGreaterThan(0);
  expect(s?.ppid).toBe(process.ppid);
});

test("a busy child's CPU is counted under its label, an idle one's is near zero", async () => {
  const sampler = new CpuSampler((argv, comm) => (argv.length > 0 ? path.basename(argv[0]) : comm), { intervalMs: 20 });
  const busy = spawn(process.execPath, ["-e", "while (process.cpuUsage().user < 500000);"]);
  const idle = spawn("sleep", ["0.7"]);
  await Promise.all([busy, idle].map((c) => new Promise((resolve) => c.on("exit", resolve))));
  const by = new Map(sampler.stop());
  // At least 0.5 s of CPU spent (it spins until then), less what ran after the last sample.
  expect(by.get("node")).toBeGreaterThan(0.3);
  expect(by.get("sleep") ?? 0).toBeLessThan(0.05);
});

test("a process that execs another program is counted under the program it became", async () => {
  const sampler = new CpuSampler((argv, comm) => (argv.length > 0 ? path.basename(argv[0]) : comm), { intervalMs: 20 });
  // The shell is sampled while it sleeps, then becomes node: as the launcher becomes the language host.
  const child = spawn("sh", ["-c", `sleep 0.2; exec "${process.execPath}" -e "while (process.cpuUsage().user < 400000);"`]);
  await new Promise((resolve) => child.on("exit", resolve));
  const by = new Map(sampler.stop());
  expect(by.get("node")).toBeGreaterThan(0.25);
  expect(by.get("sh") ?? 0).toBeLessThan(0.05);
});

test("the benchmark's SDK-trimmed variant takes effect in the SDK the program loads", () => {
  // If a new SDK made these calls unreachable, `--compare-sdk` would measure nothing: this says so.
  const script = [
    'const log = require("@pulumi/pulumi/log");',
    'const d = require("@pulumi/pulumi/runtime/debuggable");',
    "const p = Promise.resolve(1);",
    'process.stdout.write(JSON.stringify({ debug: log.debug.toString(), same: d.debuggablePromise(p, "x") === p }));',
  ].join("\n");
  const run = (args: string[]) =>
    JSON.parse(execFileSync(process.execPath, [...args, "-e", script], { cwd: ROOT, encoding: "utf8" })) as { debug: string; same: boolean };
  expect(run([])).toMatchObject({ same: false });
  const trimmed = run(["--require", path.join(ROOT, "tools", "bench-sdk-trimmed.js")]);
  expect(trimmed.same).toBe(true);
  expect(trimmed.debug).toContain("Promise.resolve()");
});
