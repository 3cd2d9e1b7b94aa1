// Finds files that hold key or token material: a kubeconfig's client key, a PEM private key, a kubeadm
// bootstrap token. Used by the engine tests (with the exact keys of their cluster) and by hand:
//
//   npm run credential-scan [-- --since-minutes N] [DIR...]     default DIRs: $TMPDIR (or /tmp) and $HOME
//
// The project's private cache (LAB_CACHE, ~/.cache/kubeadm-istio-lab) is where such files may live, and
// Go's module and build caches hold test fixtures, not credentials: those are not scanned.
// Exit status: 0 when nothing is found, 1 otherwise (each file is listed with what it holds).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { privateTmpRoot } from "./privateTmp";
import { runTool, UsageError } from "./cli";

export interface Finding {
  file: string;
  what: string;
}

export const CREDENTIAL_PATTERNS: [string, RegExp][] = [
  ["kubeconfig client key (client-key-data)", /client-key-data:\s*["']?[A-Za-z0-9+/=]{20,}/],
  ["PEM private key", /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/],
  ["kubeadm bootstrap token", /\b(?:token|--token|bootstrapToken)["']?[\s:=]+["']?[a-z0-9]{6}\.[a-z0-9]{16}\b/],
];

export interface ScanOptions {
  /** Folders (and everything under them) left out. */
  exclude: string[];
  /** Only files modified at or after this time (ms since the epoch). */
  sinceMs?: number;
  /** What to look for: a name and a pattern or an exact string. */
  patterns: [string, RegExp | string][];
  /** Larger files are skipped (binaries, archives). Default 8 MiB. */
  maxBytes?: number;
}

/** Files under `roots` whose text matches one of the patterns; symbolic links are not followed. */
export function scanFiles(roots: string[], options: ScanOptions): { findings: Finding[]; scanned: number } {
  const exclude = options.exclude.map((e) => path.resolve(e));
  const excluded = (p: string) => exclude.some((e) => p === e || p.startsWith(e + path.sep));
  const findings: Finding[] = [];
  let scanned = 0;
  const seen = new Set<string>();
  const walk = (dir: string) => {
    if (excluded(dir) || seen.has(dir)) return;
    seen.add(dir);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // gone meanwhile, or not ours to read
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && !excluded(full)) {
        let stat: fs.Stats;
        try {
          stat = fs.statSync(full);
        } catch {
          continue;
        }
        if (stat.size > (options.maxBytes ?? 8 * 1024 * 1024)) continue;
        if (options.sinceMs !== undefined && stat.mtimeMs < options.sinceMs) continue;
        let text: string;
        try {
          text = fs.readFileSync(full, "latin1");
        } catch {
          continue;
        }
        scanned++;
        for (const [what, pattern] of options.patterns) {
          if (typeof pattern === "string" ? text.includes(pattern) : pattern.test(text)) findings.push({ file: full, what });
        }
      }
    }
  };
  for (const root of roots) walk(path.resolve(root));
  return { findings, scanned };
}

/** Go's module and build caches, when Go is installed. */
export function goCaches(): string[] {
  for (const go of ["go", "/usr/local/go/bin/go"]) {
    try {
      return execFileSync(go, ["env", "GOMODCACHE", "GOCACHE"], { encoding: "utf8" }).split("\n").filter((l) => l !== "");
    } catch {
      // try the next
    }
  }
  return [];
}

export function main(argv: string[]): number {
  let sinceMs: number | undefined;
  const roots: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--since-minutes") {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError("--since-minutes needs a positive number");
      sinceMs = Date.now() - n * 60_000;
    } else if (argv[i].startsWith("-")) throw new UsageError(`unknown argument ${argv[i]}`);
    else roots.push(argv[i]);
  }
  if (roots.length === 0) roots.push(os.tmpdir(), os.homedir());
  const cache = path.dirname(privateTmpRoot());
  const { findings, scanned } = scanFiles(roots, { exclude: [cache, ...goCaches()], sinceMs, patterns: CREDENTIAL_PATTERNS });
  for (const f of findings) process.stdout.write(`${f.file}: ${f.what}\n`);
  process.stdout.write(`credential-scan: ${scanned} files in ${roots.join(", ")} (not ${cache} or Go's caches): ${findings.length} finding(s)\n`);
  return findings.length === 0 ? 0 : 1;
}

if (require.main === module) {
  runTool("credential-scan", () => main(process.argv.slice(2)));
}
