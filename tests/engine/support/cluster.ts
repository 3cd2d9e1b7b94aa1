// A local Kubernetes control plane for engine tests (scripts/cluster.sh), and the tools built by
// scripts/toolchain.sh. Everything listens on 127.0.0.1 only.
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLUSTER_SCRIPT = path.join(REPO_ROOT, 'scripts', 'cluster.sh');
export const TOOLCHAIN_SCRIPT = path.join(REPO_ROOT, 'scripts', 'toolchain.sh');

/** The processes scripts/cluster.sh starts, in start order. */
export const CLUSTER_COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
] as const;
export type ClusterComponent = (typeof CLUSTER_COMPONENTS)[number];

/** The fake nodes every cluster has, named after the seed's machines. */
export const CLUSTER_NODES = ['nieve', 'sansa', 'arya'] as const;

/** `${LAB_CACHE:-$HOME/.cache/kubeadm-istio-lab}`, where scripts/toolchain.sh puts its output. */
export function labCacheDir(): string {
  const fromEnv = process.env.LAB_CACHE;
  return fromEnv !== undefined && fromEnv !== ''
    ? fromEnv
    : path.join(os.homedir(), '.cache', 'kubeadm-istio-lab');
}

/** The folder of tool symlinks to put on PATH; throws when scripts/toolchain.sh has not run. */
export function toolchainBinDir(): string {
  const dir = path.join(labCacheDir(), 'bin');
  if (!fs.existsSync(dir)) {
    throw new Error(`toolchain folder ${dir} does not exist: run scripts/toolchain.sh first`);
  }
  return dir;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Absolute path of a tool built by scripts/toolchain.sh (pulumi, kwok, istioctl, ...). */
export function toolPath(name: string): string {
  const file = path.join(toolchainBinDir(), name);
  if (!isExecutable(file)) {
    throw new Error(`${name} not found at ${file}: run scripts/toolchain.sh first`);
  }
  return file;
}

/** kubectl: the toolchain's if it has one, else the machine's (Debian kubernetes-client). */
export function kubectlPath(): string {
  const own = path.join(labCacheDir(), 'bin', 'kubectl');
  if (isExecutable(own)) {
    return own;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && isExecutable(path.join(dir, 'kubectl'))) {
      return path.join(dir, 'kubectl');
    }
  }
  throw new Error('kubectl not found on PATH: run scripts/toolchain.sh first');
}

/** PATH with the toolchain's bin folder first (for child processes such as pulumi). */
export function pathWithToolchain(): string {
  return [toolchainBinDir(), process.env.PATH ?? ''].filter((p) => p !== '').join(path.delimiter);
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Milliseconds; the child gets SIGKILL after this. */
  timeoutMs?: number;
  /** Written to the child's stdin. */
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Error of a command that exited non-zero (or was killed), with its output. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(
      `${command} failed (${signal !== null ? `signal ${signal}` : `exit code ${String(exitCode)}`})` +
        (stderr.trim() !== '' ? `:\n${stderr.trim()}` : stdout.trim() !== '' ? `:\n${stdout.trim()}` : ''),
    );
    this.name = 'CommandError';
  }
}

/** Runs a program (no shell); rejects with a CommandError when it exits non-zero. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 0,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const code = typeof error.code === 'number' ? error.code : null;
        const signal = typeof error.signal === 'string' ? error.signal : null;
        const command = [path.basename(file), ...args].join(' ');
        if (code === null && signal === null) {
          // Could not start at all (ENOENT, EACCES, ...).
          reject(new Error(`${command}: ${error.message}`));
          return;
        }
        reject(new CommandError(command, code, signal, stdout, stderr));
      },
    );
    if (options.input !== undefined) {
      child.stdin?.end(options.input);
    } else {
      child.stdin?.end();
    }
  });
}

/** Parses KEY=VALUE lines (the format of scripts/cluster.sh's DIR/env). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line.trim());
    if (m !== null) {
      out[m[1]] = m[2];
    }
  }
  return out;
}

function pidVar(component: ClusterComponent): string {
  return `LAB_${component.replace(/-/g, '_').toUpperCase()}_PID`;
}

/** True if the process exists and has not exited (a zombie counts as exited). */
export function isProcessRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X' && state !== 'x';
  } catch {
    return false;
  }
}

/** True if the process is running (and, when given, runs a binary of that name). */
export function isProcessAlive(pid: number, binaryName?: string): boolean {
  if (!isProcessRunning(pid)) {
    return false;
  }
  if (binaryName === undefined) {
    return true;
  }
  try {
    const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 !== '' && path.basename(argv0) === binaryName;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
async function killProcess(pid: number, binaryName: string, graceMs = 5000): Promise<void> {
  if (!isProcessAlive(pid, binaryName)) {
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isProcessRunning(pid)) {
    if (Date.now() > deadline) {
      if (isProcessAlive(pid, binaryName)) {
        process.kill(pid, 'SIGKILL');
      }
      await sleep(200);
      return;
    }
    await sleep(50);
  }
}

export interface LocalCluster {
  /** The state folder (certificates, kubeconfig, env, logs, etcd data); removed by stop(). */
  readonly dir: string;
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  readonly server: string;
  /** Pid of each process the cluster started. */
  readonly pids: Readonly<Record<ClusterComponent, number>>;
  /** All of DIR/env. */
  readonly env: Readonly<Record<string, string>>;
  /** Runs kubectl against this cluster; resolves with its stdout. */
  kubectl(args: readonly string[], options?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Kills only kube-apiserver (etcd and the rest keep running), to test a lost cluster. */
  stopApiServer(): Promise<void>;
  /**
   * Starts kube-apiserver again after stopApiServer, with the command line it first ran with (same
   * port, certificates and etcd), waits until /readyz answers (default bound 60 s), then restarts the
   * controller manager and scheduler, as a kubeadm node's kubelet does after they lose their lease.
   */
  startApiServer(options?: { timeoutMs?: number }): Promise<void>;
  /** Deletes workloads, kills every process and removes dir. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  /** Default 120 s. */
  timeoutMs?: number;
  /** Called with the script's output when start succeeds (e.g. to log the timings). */
  onOutput?: (output: string) => void;
  /**
   * Real Istio (scripts/cluster.sh --istio): a chart repository of Istio's charts and istiod on
   * loopback, for the program to install the charts; DIR/env names their URLs. Default: the stand-in
   * (Istio's CRDs and an ingress gateway applied by the script).
   */
  istio?: boolean;
}

/** Starts etcd, kube-apiserver, controller-manager, scheduler and kwok on loopback. */
export async function startCluster(options: StartClusterOptions = {}): Promise<LocalCluster> {
  // Fail early with the toolchain message rather than in the middle of the script.
  for (const tool of [...CLUSTER_COMPONENTS, ...(options.istio === true ? ['istio-charts', 'istiod', 'pilot-discovery'] : [])]) {
    toolPath(tool);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-cluster-'));
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithToolchain() };
  let result: RunResult;
  try {
    result = await run('bash', [CLUSTER_SCRIPT, 'start', '--dir', dir, ...(options.istio === true ? ['--istio'] : [])], {
      env: childEnv,
      timeoutMs: options.timeoutMs ?? 120_000,
    });
  } catch (error) {
    await run('bash', [CLUSTER_SCRIPT, 'stop', '--dir', dir], { env: childEnv, timeoutMs: 30_000 }).catch(
      () => undefined,
    );
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  options.onOutput?.(result.stdout + result.stderr);

  const env = parseEnvFile(fs.readFileSync(path.join(dir, 'env'), 'utf8'));
  const pids = {} as Record<ClusterComponent, number>;
  for (const component of CLUSTER_COMPONENTS) {
    const pid = Number(env[pidVar(component)]);
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new Error(`${path.join(dir, 'env')} has no pid for ${component}`);
    }
    pids[component] = pid;
  }
  const kubeconfigPath = env.KUBECONFIG ?? path.join(dir, 'kubeconfig');
  const server = env.LAB_APISERVER_URL;
  if (server === undefined) {
    throw new Error(`${path.join(dir, 'env')} has no LAB_APISERVER_URL`);
  }
  const kubectl = kubectlPath();
  let stopped = false;
  // Command lines, read now so that these components can be started again the same way.
  const argvOf = (component: ClusterComponent): string[] =>
    fs.readFileSync(`/proc/${pids[component]}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  const restartable = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
  const argvs = Object.fromEntries(restartable.map((c) => [c, argvOf(c)])) as Record<(typeof restartable)[number], string[]>;
  const respawn = (component: (typeof restartable)[number]): number => {
    const argv = argvs[component];
    const log = fs.openSync(path.join(dir, 'logs', `${component}.log`), 'a');
    // Its own session, as scripts/cluster.sh starts it: a signal to the test's group does not reach it.
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child.unref();
    if (child.pid === undefined) {
      throw new Error(`${component} could not be started again (${argv[0]})`);
    }
    pids[component] = child.pid;
    // scripts/cluster.sh stop reads the last pid line of DIR/env.
    fs.appendFileSync(path.join(dir, 'env'), `${pidVar(component)}=${child.pid}\n`);
    return child.pid;
  };
  const readyz = (): Promise<boolean> =>
    run(kubectl, ['--kubeconfig', kubeconfigPath, 'get', '--raw', '/readyz', '--request-timeout', '2s'], {
      env: { ...childEnv, KUBECONFIG: kubeconfigPath },
      timeoutMs: 5_000,
    }).then(
      () => true,
      () => false,
    );

  return {
    dir,
    kubeconfigPath,
    server,
    pids,
    env,
    async kubectl(args, opts = {}) {
      const { stdout } = await run(kubectl, ['--kubeconfig', kubeconfigPath, ...args], {
        env: { ...childEnv, KUBECONFIG: kubeconfigPath },
        input: opts.input,
        timeoutMs: opts.timeoutMs ?? 60_000,
      });
      return stdout;
    },
    async stopApiServer() {
      await killProcess(pids['kube-apiserver'], 'kube-apiserver');
    },
    async startApiServer(opts = {}) {
      if (isProcessAlive(pids['kube-apiserver'], 'kube-apiserver')) {
        throw new Error(`kube-apiserver (pid ${pids['kube-apiserver']}) is still running`);
      }
      const pid = respawn('kube-apiserver');
      const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
      while (!(await readyz())) {
        if (!isProcessRunning(pid)) {
          throw new Error(`kube-apiserver exited after a restart; see ${path.join(dir, 'logs', 'kube-apiserver.log')}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`kube-apiserver not ready ${opts.timeoutMs ?? 60_000} ms after a restart`);
        }
        await sleep(200);
      }
      // On a kubeadm node the controller manager and scheduler run with leader election: an outage
      // longer than their 10 s renew deadline makes them exit, and the kubelet starts them afresh.
      // This cluster runs them without it (one of each), and a controller manager that lived through
      // the outage was seen keeping a stale informer: its ReplicaSet controller then refuses every sync ("read
      // version N is not as new as written version M") and Deployments never turn Available. So they
      // are restarted here as the kubelet would.
      for (const component of ['kube-controller-manager', 'kube-scheduler'] as const) {
        await killProcess(pids[component], component);
        respawn(component);
      }
    },
    async stop() {
      if (stopped && !fs.existsSync(dir)) {
        return;
      }
      await run('bash', [CLUSTER_SCRIPT, 'stop', '--dir', dir], { env: childEnv, timeoutMs: 60_000 });
      stopped = true;
    },
  };
}
