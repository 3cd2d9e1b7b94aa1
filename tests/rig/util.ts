// Helpers shared by the test-host rig's modules: logging with times, running programs, finding tools.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

/** Programs the rig runs, and the Debian package that has each (scripts/toolchain.sh installs the same). */
export const APT_PACKAGES: Record<string, string> = {
  debootstrap: 'debootstrap',
  'systemd-nspawn': 'systemd-container',
  iptables: 'iptables',
  ip6tables: 'iptables',
  ip: 'iproute2',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  findmnt: 'util-linux',
};

// Times in the log are from the start of this process.
const t0 = Date.now();
export function log(message: string): void {
  const clock = new Date().toISOString().slice(11, 19);
  process.stdout.write(`[hosts] ${clock} ${message} (${((Date.now() - t0) / 1000).toFixed(1)}s)\n`);
}

export class RigError extends Error {}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program without a shell; never rejects (callers decide what a failure means). */
export function exec(file: string, args: readonly string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', env: env ?? process.env },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 255;
        resolve({ code, stdout, stderr: error !== null && stderr === '' ? error.message : stderr });
      },
    );
  });
}

/** Runs a program and throws with its stderr when it fails. */
export async function must(file: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const r = await exec(file, args, timeoutMs);
  if (r.code !== 0) {
    throw new RigError(`${file} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function labCacheDir(): string {
  const fromEnv = process.env.LAB_CACHE;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : path.join(os.homedir(), '.cache', 'kubeadm-istio-lab');
}

export function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // keep looking
    }
  }
  return null;
}

export function tool(name: string): string {
  const file = onPath(name);
  if (file === null) {
    throw new RigError(`${name} not found: scripts/hosts.sh installs it with apt-get (package ${APT_PACKAGES[name] ?? name})`);
  }
  return file;
}

/** apt-get installs what the rig needs when it is missing (the same packages scripts/toolchain.sh installs). */
export async function ensureTools(): Promise<void> {
  const missing = [...new Set(Object.keys(APT_PACKAGES).filter((n) => onPath(n) === null).map((n) => APT_PACKAGES[n]))];
  if (missing.length === 0) {
    return;
  }
  log(`installing ${missing.join(' ')} with apt-get`);
  await must('apt-get', ['update', '-qq'], 600_000);
  const r = await exec('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], 600_000, {
    ...process.env,
    DEBIAN_FRONTEND: 'noninteractive',
  });
  if (r.code !== 0) {
    throw new RigError(`apt-get install ${missing.join(' ')} failed: ${r.stderr.trim()}`);
  }
}

export function isProcessRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X' && state !== 'x';
  } catch {
    return false;
  }
}


export function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}


/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr !== null && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
