// After an `up` that was killed outright (kill -9, a CI runner stopped, the machine lost power), the
// stack is still locked and its state lists the operations that were in flight. This is the one step
// that repairs it; then run `pulumi up` as usual.
//
//   npm run recover -- --stack NAME [--force]     (the local stack: npm run local:recover)
//
// 1. The lock: removed with `pulumi cancel`, unless the process that holds it still runs on this
//    machine. A lock taken on another machine, or a backend whose locks cannot be read here (Pulumi
//    Cloud, S3), is only cancelled with --force: make sure no `up` runs there first.
//    Before that, in a file backend, what a kill in the middle of a state write left: the storage
//    library (gocloud's fileblob) writes NAME.<hex>.tmp, then truncates and rewrites the sidecar
//    NAME.attrs, then renames the .tmp onto NAME. Killed in between, NAME is still the previous,
//    whole file but its sidecar is empty, and every command on the stack (cancel included) fails with
//    `failed to load checkpoint: EOF`. Such sidecars and the orphaned .tmp files are removed (a
//    missing sidecar is read as default attributes; the next write makes it again).
// 2. Interrupted creates: each Kubernetes object is imported by its ID (namespace/name) and read back
//    by the refresh, which drops it if it was never created; any other interrupted create (a remote
//    command, a random value) is cleared, so the next `up` creates it again (the remote scripts are
//    idempotent).
// 3. `pulumi refresh`: state and cluster agree again, interrupted updates and deletes are cleared.
// 4. Field managers a cut create left on the stack's objects (stacks made before the program named one
//    manager per stack): released, so the next change of a field they co-own is not refused as a
//    conflict (tools/fieldOwners.ts says which managers count as the program's own).
//
// Uses `pulumi` from PATH with the caller's backend and passphrase settings (PULUMI_BACKEND_URL, ...).
// Exit status: 0 when repaired (or nothing to repair), 1 when refused or a pulumi command failed.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runTool, UsageError } from "./cli";
import { releaseOrphanedManagers } from "./fieldOwners";
import { privateTmpdir } from "./privateTmp";

interface RecoverArgs {
  stack: string;
  cwd: string;
  force: boolean;
}

export function parseArgs(argv: string[]): RecoverArgs {
  let stack: string | undefined;
  let cwd = path.resolve(__dirname, "..");
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === "--stack") stack = next();
    else if (flag === "--cwd") cwd = next();
    else if (flag === "--force") force = true;
    else throw new UsageError(`unknown argument ${flag}; usage: recover --stack NAME [--force] [--cwd DIR]`);
  }
  if (stack === undefined) throw new UsageError("give --stack NAME");
  return { stack, cwd, force };
}

interface LockFile {
  file: string;
  pid: number;
  hostname: string;
  username: string;
  timestamp: string;
}

/** The folder of a file backend (`file://DIR`, `~` expanded, query dropped), or undefined for other backends. */
export function fileBackendDir(backendUrl: string | undefined): string | undefined {
  if (backendUrl === undefined || !backendUrl.startsWith("file://")) return undefined;
  return backendUrl.slice("file://".length).replace(/\?.*$/, "").replace(/^~(?=\/)/, os.homedir());
}

/** The stack's lock files in a file backend (`file://DIR`), or undefined for other backends. */
export function fileBackendLocks(backendUrl: string | undefined, stack: string): LockFile[] | undefined {
  const backend = fileBackendDir(backendUrl);
  if (backend === undefined) return undefined;
  const dir = path.join(backend, ".pulumi", "locks");
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .map((f) => path.join(dir, f))
    .filter((f) => f.endsWith(".json") && path.basename(path.dirname(f)) === stack && fs.statSync(f).isFile())
    .map((file) => ({ file, ...(JSON.parse(fs.readFileSync(file, "utf8")) as Omit<LockFile, "file">) }));
}

export interface InterruptedWrite {
  file: string;
  why: string;
}

/**
 * Files of `stack` in a file backend that a write killed midway left behind (see step 1 above): sidecars
 * (`.attrs`) that are not a JSON object, and the writer's `NAME.<hex>.tmp` files. The stack's files are
 * `stacks/[PROJECT/]STACK.json*` and everything under a `STACK` folder of `history/` or `locks/`.
 */
export function interruptedWrites(backendDir: string, stack: string): InterruptedWrite[] {
  const root = path.join(backendDir, ".pulumi");
  if (!fs.existsSync(root)) return [];
  const found: InterruptedWrite[] = [];
  for (const rel of fs.readdirSync(root, { recursive: true }) as string[]) {
    const parts = rel.split(path.sep);
    const base = parts[parts.length - 1];
    const ofStack =
      (parts[0] === "stacks" && base.startsWith(`${stack}.json`)) ||
      ((parts[0] === "history" || parts[0] === "locks") && parts.slice(1, -1).includes(stack));
    if (!ofStack) continue;
    const file = path.join(root, rel);
    if (!fs.statSync(file).isFile()) continue;
    if (/\.[0-9a-f]+\.tmp$/.test(base)) {
      found.push({ file, why: "a write that never finished (the file it was to replace is unchanged)" });
    } else if (base.endsWith(".attrs")) {
      const text = fs.readFileSync(file, "utf8");
      let ok = false;
      try {
        const parsed: unknown = JSON.parse(text);
        ok = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
      } catch {
        ok = false;
      }
      if (!ok) found.push({ file, why: text.length === 0 ? "an empty sidecar (reads failed with EOF)" : "a sidecar cut off mid-write" });
    }
  }
  return found;
}

/** True if `pid` runs a program named pulumi on this machine. */
function pulumiRunning(pid: number): boolean {
  try {
    const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0];
    return path.basename(argv0) === "pulumi";
  } catch {
    return false;
  }
}

interface PendingOperation {
  type: string;
  resource: { urn: string; type: string; inputs?: { metadata?: { name?: unknown; namespace?: unknown } } };
}

/** The Kubernetes provider's ID of an object: namespace/name, or name for a cluster-wide object. */
export function kubernetesId(op: PendingOperation): string | undefined {
  const { type, inputs } = op.resource;
  if (!type.startsWith("kubernetes:")) return undefined;
  const name = inputs?.metadata?.name;
  const namespace = inputs?.metadata?.namespace;
  if (typeof name !== "string" || name === "") return undefined;
  return typeof namespace === "string" && namespace !== "" ? `${namespace}/${name}` : name;
}

/** The arguments of the refresh that settles `pending`: imports for Kubernetes objects, clear for the rest. */
export function refreshArgs(pending: PendingOperation[]): { args: string[]; imported: string[]; cleared: string[] } {
  const args: string[] = [];
  const imported: string[] = [];
  const cleared: string[] = [];
  for (const op of pending.filter((o) => o.type === "creating")) {
    const id = kubernetesId(op);
    if (id !== undefined) {
      args.push("--import-pending-creates", op.resource.urn, "--import-pending-creates", id);
      imported.push(`${op.resource.urn} as ${id}`);
    } else cleared.push(op.resource.urn);
  }
  if (cleared.length > 0) args.push("--clear-pending-creates");
  return { args, imported, cleared };
}

export function main(argv: string[]): number {
  const args = parseArgs(argv);
  const tmp = privateTmpdir();
  const pulumi = (cli: string[], capture = false) => {
    const r = spawnSync("pulumi", [...cli, "--stack", args.stack, "--non-interactive"], {
      cwd: args.cwd,
      env: { ...process.env, TMPDIR: tmp.dir, PULUMI_SKIP_UPDATE_CHECK: "true" },
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
      stdio: capture ? ["ignore", "pipe", "pipe"] : ["ignore", "inherit", "inherit"],
    });
    if (r.error) throw new UsageError(`pulumi could not start: ${r.error.message}`);
    return r;
  };
  const say = (line: string) => process.stdout.write(`[recover] ${line}\n`);
  try {
    // 1. The lock (and, once no pulumi holds it, what a write cut short left in a file backend).
    const locks = fileBackendLocks(process.env.PULUMI_BACKEND_URL, args.stack);
    const backend = fileBackendDir(process.env.PULUMI_BACKEND_URL);
    const repair = () => {
      if (backend === undefined) return;
      for (const w of interruptedWrites(backend, args.stack)) {
        say(`interrupted state write, removed ${path.relative(backend, w.file)}: ${w.why}`);
        fs.rmSync(w.file);
      }
    };
    if (locks === undefined) {
      if (!args.force) {
        say("this backend's locks cannot be read here; if `pulumi up` says an update is in progress and none runs, rerun with --force");
      } else if (pulumi(["cancel", "--yes"]).status !== 0) {
        say("pulumi cancel found nothing to cancel; going on");
      }
    } else if (locks.length > 0) {
      for (const lock of locks) {
        const here = lock.hostname === os.hostname();
        if (here && pulumiRunning(lock.pid)) {
          throw new UsageError(`pulumi (pid ${lock.pid}) still runs on stack ${args.stack} and holds its lock: let it finish (or stop it) first`);
        }
        if (!here && !args.force) {
          throw new UsageError(
            `stack ${args.stack} was locked on ${lock.hostname} by ${lock.username} at ${lock.timestamp}: if no pulumi runs there, rerun with --force`,
          );
        }
        say(`stale lock of pid ${lock.pid} on ${lock.hostname} (${lock.timestamp}): pulumi cancel`);
      }
      repair();
      if (pulumi(["cancel", "--yes"]).status !== 0) return 1;
    } else {
      say("the stack is not locked");
      repair();
    }

    // 2. Interrupted operations.
    const exported = pulumi(["stack", "export"], true);
    if (exported.status !== 0) {
      process.stderr.write(exported.stderr);
      return 1;
    }
    const doc = JSON.parse(exported.stdout) as { deployment?: { pending_operations?: PendingOperation[] } };
    const pending = doc.deployment?.pending_operations ?? [];
    const { args: settle, imported, cleared } = refreshArgs(pending);
    for (const line of imported) say(`interrupted create, imported if it exists: ${line}`);
    for (const urn of cleared) say(`interrupted create, cleared (the next up creates it): ${urn}`);
    const others = pending.filter((o) => o.type !== "creating").length;
    if (others > 0) say(`${others} interrupted update(s) or delete(s): cleared by the refresh`);

    // 3. State and cluster agree again.
    say("pulumi refresh");
    if (pulumi(["refresh", "--yes", "--skip-preview", ...settle]).status !== 0) return 1;

    // 4. Field managers left by a cut create. The export holds the providers' kubeconfigs: it stays in
    // this process's memory, and the kubeconfigs go only to files in the private TMPDIR.
    const full = pulumi(["stack", "export", "--show-secrets"], true);
    if (full.status !== 0) {
      process.stderr.write(full.stderr);
      return 1;
    }
    const resources = (JSON.parse(full.stdout) as { deployment?: { resources?: Parameters<typeof releaseOrphanedManagers>[0] } }).deployment?.resources ?? [];
    const owners = releaseOrphanedManagers(resources, tmp.dir);
    for (const line of owners.released) say(`field manager: ${line}`);
    if (owners.released.length === 0 && owners.problems.length === 0) say("field managers: none left by a cut create");
    for (const problem of owners.problems) say(`field managers not checked: ${problem}`);
    if (owners.problems.length > 0) return 1;
    say(`done: run pulumi up on stack ${args.stack}`);
    return 0;
  } finally {
    tmp.remove();
  }
}

if (require.main === module) {
  runTool("recover", () => main(process.argv.slice(2)));
}
