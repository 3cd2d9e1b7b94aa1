// CPU time of a process tree, sampled from /proc while it runs (Linux): which process of an engine run
// is busy, and for how long. The benchmark's breakdown reads it; no tool outside Node is needed.
import * as fs from "fs";

/** The fields of /proc/PID/stat read here. */
export interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

/**
 * Parses /proc/PID/stat. The command name is in parentheses and may itself hold spaces and
 * parentheses, so the fields are counted from the last ")".
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // After ")": state(3) ppid(4) ... utime(14) stime(15), numbered as in proc(5).
  const rest = text.slice(close + 2).split(" ");
  const field = (n: number) => Number(rest[n - 3]);
  const [ppid, utime, stime] = [field(4), field(14), field(15)];
  if (![pid, ppid, utime, stime].every(Number.isInteger)) return undefined;
  return { pid, comm: text.slice(open + 1, close), ppid, ticks: utime + stime };
}

/** Linux's USER_HZ: the unit of utime and stime, 100 on every architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** What a process is, for the report, from its command line (empty once it has exited) and command name. */
export type Labeller = (argv: readonly string[], comm: string) => string;

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    // The process ended meanwhile.
    return undefined;
  }
}

function ticksOf(pid: number): number | undefined {
  const text = read(`/proc/${pid}/stat`);
  return text === undefined ? undefined : parseProcStat(text)?.ticks;
}

/** Children of a process, from each of its threads' `children` file (Linux 3.5 and later). */
function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((tid) => (read(`/proc/${pid}/task/${tid}/children`) ?? "").split(" ").filter((c) => c.trim() !== "").map(Number));
}

/**
 * Samples every `intervalMs` the CPU time of all descendants of `root` (the caller's pid by default)
 * and keeps the last figure seen per process: a process's CPU after its last sample is not counted,
 * so the figures are lower bounds, short by at most one interval each. `watch`: long-running
 * processes outside the tree (a cluster's), counted as their CPU between start and stop.
 */
export class CpuSampler {
  private readonly seen = new Map<number, { key: string; label: string; ticks: number }>();
  private readonly timer: NodeJS.Timeout;
  private readonly before: Map<string, { pid: number; ticks: number }>;
  private readonly root: number;

  constructor(
    private readonly label: Labeller,
    options: { root?: number; watch?: Record<string, number>; intervalMs?: number } = {},
  ) {
    this.root = options.root ?? process.pid;
    this.before = new Map(Object.entries(options.watch ?? {}).map(([label, pid]) => [label, { pid, ticks: ticksOf(pid) ?? 0 }]));
    this.timer = setInterval(() => this.sample(), options.intervalMs ?? 50);
  }

  private sample(): void {
    // Down the tree through each thread's `children` list: a few reads per process, not all of /proc.
    const queue = [this.root];
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      for (const child of childrenOf(pid)) {
        const ticks = ticksOf(child);
        if (ticks === undefined) continue;
        const known = this.seen.get(child);
        const argv = read(`/proc/${child}/cmdline`)?.split("\0").filter((a) => a !== "") ?? [];
        const key = argv.join("\0");
        // Labelled again after an exec (a launcher becomes the program it starts); an exited process
        // not yet reaped has no command line and keeps its label.
        const same = known !== undefined && (known.key === key || argv.length === 0);
        this.seen.set(child, same ? { ...known, ticks } : { key, label: this.label(argv, read(`/proc/${child}/comm`)?.trim() ?? "?"), ticks });
        queue.push(child);
      }
    }
  }

  /** Stops sampling; CPU seconds by label, largest first. */
  stop(): [string, number][] {
    this.sample();
    clearInterval(this.timer);
    const by = new Map<string, number>();
    for (const { label, ticks } of this.seen.values()) by.set(label, (by.get(label) ?? 0) + ticks / TICKS_PER_SECOND);
    for (const [label, { pid, ticks }] of this.before) by.set(label, ((ticksOf(pid) ?? ticks) - ticks) / TICKS_PER_SECOND);
    return [...by].sort((a, b) => b[1] - a[1]);
  }
}
