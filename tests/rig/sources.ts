// The test hosts' local sources (issue 13, part 3): the apt repositories and the image registry that
// scripts/toolchain.sh --only sources built, served from this machine on the hosts' bridge address.
// start makes a signing key of the run (never kept), writes and signs the Release files, and runs the
// Go server (tests/rig/sources) in the background; stop ends it by its pid.
//
//   npx ts-node --transpile-only tests/rig/sources.ts start|stop|status [--dir DIR] [--listen ADDR]
//     [--http-port 8080] [--registry-port 5000]
import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { RigError, exec, isProcessRunning, must, sleep } from './util';

const t0 = Date.now();
function log(message: string): void {
  const clock = new Date().toISOString().slice(11, 19);
  process.stdout.write(`[sources] ${clock} ${message.replace(/^sources: /, '')} (${((Date.now() - t0) / 1000).toFixed(1)}s)\n`);
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const TOOLCHAIN = path.join(REPO_ROOT, 'scripts', 'toolchain.sh');
const STATE_FILE = 'sources.json';
export const DEFAULT_LISTEN = '10.213.0.1';
const SUITE = 'bookworm';

export interface SourcesOptions {
  dir: string;
  listen: string;
  httpPort: number;
  registryPort: number;
}

export interface SourcesState extends SourcesOptions {
  pid: number;
  /** The built folder (scripts/toolchain-sources.sh) the repositories and images come from. */
  built: string;
  /** Binary keyring of the run's signing key, for signed-by=. */
  keyring: string;
  /** The run's signing key's fingerprint (40 upper-case hex digits): what the hosts stack pins. */
  keyFingerprint: string;
  /** Where the hosts (or a test) find each source. */
  urls: { kubernetes: string; docker: string; debian: string; registry: string };
  /** Images in the registry, as repository:tag. */
  images: string[];
  startedAt: string;
}

export function defaultDir(): string {
  return process.env.LAB_SOURCES_DIR ?? path.join(os.tmpdir(), 'kubeadm-istio-lab-sources');
}

/** Major.minor of a "v1.36.3" version, as pkgs.k8s.io names its repositories. */
function minorOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)\./.exec(version);
  if (m === null) {
    throw new RigError(`cannot read a minor version from ${version}`);
  }
  return `v${m[1]}.${m[2]}`;
}

/** scripts/versions.env as KEY → value. */
export function versionsEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(REPO_ROOT, 'scripts', 'versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(\S*)$/.exec(line.trim());
    if (m !== null) {
      out[m[1]] = m[2];
    }
  }
  return out;
}

/** Links every entry of `from` into `to` (a real folder, so Release files can sit beside them). */
function linkEntries(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const name of fs.readdirSync(from)) {
    fs.symlinkSync(path.join(from, name), path.join(to, name));
  }
}

function fileHash(file: string, algorithm: string): string {
  return crypto.createHash(algorithm).update(fs.readFileSync(file)).digest('hex');
}

/** A Release file over the index files (paths relative to releaseDir), as apt checks them. */
function releaseText(releaseDir: string, indexes: string[], fields: Record<string, string>): string {
  const lines = Object.entries(fields).map(([k, v]) => `${k}: ${v}`);
  lines.push(`Date: ${new Date().toUTCString()}`);
  for (const [title, algorithm] of [['MD5Sum', 'md5'], ['SHA256', 'sha256']]) {
    lines.push(`${title}:`);
    for (const rel of indexes) {
      const file = path.join(releaseDir, rel);
      lines.push(` ${fileHash(file, algorithm)} ${fs.statSync(file).size} ${rel}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

async function gpg(home: string, args: string[]): Promise<string> {
  return must('gpg', ['--homedir', home, '--batch', '--yes', '--no-tty', ...args], 60_000);
}

async function signRelease(home: string, releaseDir: string, text: string): Promise<void> {
  const release = path.join(releaseDir, 'Release');
  fs.writeFileSync(release, text);
  await gpg(home, ['--clearsign', '-o', path.join(releaseDir, 'InRelease'), release]);
  await gpg(home, ['--armor', '--detach-sign', '-o', path.join(releaseDir, 'Release.gpg'), release]);
}

/** The fingerprint of the one primary key in gpg's --with-colons listing (the fpr record after pub). */
function primaryFingerprint(listing: string): string {
  const lines = listing.split('\n');
  const found = lines.flatMap((l, i) => (l.startsWith('fpr:') && i > 0 && lines[i - 1].startsWith('pub:') ? [l.split(':')[9]] : []));
  if (found.length !== 1 || !/^[0-9A-F]{40}$/.test(found[0])) {
    throw new RigError(`expected one signing key with a v4 fingerprint, gpg listed: ${found.join(', ') || 'none'}`);
  }
  return found[0];
}

function readState(dir: string): SourcesState | null {
  const file = path.join(dir, STATE_FILE);
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as SourcesState) : null;
}

export async function startSources(o: SourcesOptions): Promise<SourcesState> {
  const t0 = Date.now();
  const running = readState(o.dir);
  if (running !== null && isProcessRunning(running.pid)) {
    throw new RigError(`sources already running (pid ${running.pid}, ${o.dir}); stop them first`);
  }
  // Builds what is missing; with a warm cache this only checks (about a second).
  log(`sources: checking the build (scripts/toolchain.sh --only sources)`);
  const build = await exec('bash', [TOOLCHAIN, '--only', 'sources', '--skip-apt'], 90 * 60_000);
  if (build.code !== 0) {
    throw new RigError(`toolchain.sh --only sources failed:\n${build.stdout}${build.stderr}`);
  }
  const built = (await must('bash', [TOOLCHAIN, '--print-sources'])).trim();
  if (!fs.existsSync(path.join(built, '.done'))) {
    throw new RigError(`${built} is not complete; run scripts/toolchain.sh --only sources`);
  }

  fs.rmSync(o.dir, { recursive: true, force: true });
  fs.mkdirSync(o.dir, { recursive: true });
  const home = path.join(o.dir, 'gnupg');
  fs.mkdirSync(home, { mode: 0o700 });
  log('sources: generating the signing key of this run');
  await gpg(home, ['--passphrase', '', '--quick-gen-key', 'kubeadm-istio-lab test sources <lab-sources@localhost>', 'ed25519', 'sign', '1d']);
  const armored = await gpg(home, ['--armor', '--export']);
  const keyFingerprint = primaryFingerprint(await gpg(home, ['--with-colons', '--list-keys']));
  const keyring = path.join(o.dir, 'keyring.gpg');
  await gpg(home, ['--output', keyring, '--export']);

  const www = path.join(o.dir, 'www');
  const minor = minorOf(versionsEnv().KUBERNETES_VERSION);
  // pkgs.k8s.io's shape: one flat repository per minor, key beside it as Release.key.
  const kube = path.join(www, 'kubernetes', minor, 'deb');
  linkEntries(path.join(built, 'kubernetes'), kube);
  fs.writeFileSync(path.join(kube, 'Release.key'), armored);
  await signRelease(home, kube, releaseText(kube, ['Packages', 'Packages.gz'], {
    Origin: 'kubeadm-istio-lab', Label: `kubernetes ${minor} (test sources)`, Architectures: 'amd64',
  }));
  // Docker's shape (and Debian's for the third): pool/ and dists/<suite>/<component>/binary-amd64/.
  const distRepo = async (name: string, component: string, keyFile: string): Promise<string> => {
    const root = path.join(www, ...name.split('/'));
    fs.mkdirSync(root, { recursive: true });
    fs.symlinkSync(path.join(built, name.split('/')[0], 'pool'), path.join(root, 'pool'));
    const dist = path.join(root, 'dists', SUITE);
    fs.mkdirSync(dist, { recursive: true });
    fs.symlinkSync(path.join(built, name.split('/')[0], 'dists', SUITE, component), path.join(dist, component));
    fs.writeFileSync(path.join(root, keyFile), armored);
    const idx = [`${component}/binary-amd64/Packages`, `${component}/binary-amd64/Packages.gz`];
    await signRelease(home, dist, releaseText(dist, idx, {
      Origin: 'kubeadm-istio-lab', Label: `${name} (test sources)`, Suite: SUITE, Codename: SUITE,
      Architectures: 'amd64', Components: component,
    }));
    return root;
  };
  await distRepo('docker/debian', 'stable', 'gpg');
  await distRepo('debian', 'main', 'key.asc');

  const layoutIndex = JSON.parse(fs.readFileSync(path.join(built, 'images', 'index.json'), 'utf8')) as {
    manifests: { annotations?: Record<string, string> }[];
  };
  const images = layoutIndex.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '').filter((r) => r !== '');

  const logFile = path.join(o.dir, 'sources.log');
  const out = fs.openSync(logFile, 'a');
  const child = spawn(path.join(built, 'bin', 'sources'), [
    'serve', '--listen', o.listen, '--http-port', String(o.httpPort), '--registry-port', String(o.registryPort),
    '--root', www, '--layout', path.join(built, 'images'),
  ], { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    throw new RigError('could not start the sources server');
  }
  log(`sources: server pid ${pid} on ${o.listen}, loading ${images.length} images (log ${logFile})`);
  for (let waited = 0; ; waited += 200) {
    const text = fs.readFileSync(logFile, 'utf8');
    if (/^ready /m.test(text)) {
      break;
    }
    if (!isProcessRunning(pid) || waited > 120_000) {
      if (isProcessRunning(pid)) {
        process.kill(pid, 'SIGTERM');
      }
      throw new RigError(`sources server did not become ready:\n${text.split('\n').slice(-20).join('\n')}`);
    }
    await sleep(200);
  }
  const http = `http://${o.listen}:${o.httpPort}`;
  const state: SourcesState = {
    ...o, pid, built, keyring, keyFingerprint, images, startedAt: new Date().toISOString(),
    urls: { kubernetes: `${http}/kubernetes/${minor}/deb/`, docker: `${http}/docker/debian`, debian: `${http}/debian`, registry: `${o.listen}:${o.registryPort}` },
  };
  fs.writeFileSync(path.join(o.dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  log(`sources: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${state.urls.kubernetes} ${state.urls.docker} ${state.urls.debian} registry ${state.urls.registry}`);
  // Pulumi.hosts.yaml cannot know a key made per run: these pin it there.
  log(`sources: signing key ${keyFingerprint}; pin it in the hosts stack with:\n` +
    ['containerd', 'kubernetes'].map((s) => `  pulumi config set --stack hosts --path sources.${s}.keyFingerprint ${keyFingerprint}`).join('\n'));
  return state;
}

export async function stopSources(dir: string): Promise<void> {
  const state = readState(dir);
  if (state === null) {
    log(`sources: not running (no ${STATE_FILE} in ${dir})`);
    return;
  }
  if (isProcessRunning(state.pid)) {
    process.kill(state.pid, 'SIGTERM');
    for (let i = 0; i < 50 && isProcessRunning(state.pid); i++) {
      await sleep(100);
    }
    if (isProcessRunning(state.pid)) {
      process.kill(state.pid, 'SIGKILL');
    }
  }
  // The run's key goes with the run.
  fs.rmSync(dir, { recursive: true, force: true });
  log(`sources: stopped (pid ${state.pid}) and ${dir} removed`);
}

export function sourcesStatus(dir: string): SourcesState | null {
  const state = readState(dir);
  return state !== null && isProcessRunning(state.pid) ? state : null;
}

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  const dir = option(args, '--dir', defaultDir());
  if (command === 'start') {
    await startSources({
      dir,
      listen: option(args, '--listen', DEFAULT_LISTEN),
      httpPort: Number(option(args, '--http-port', '8080')),
      registryPort: Number(option(args, '--registry-port', '5000')),
    });
  } else if (command === 'stop') {
    await stopSources(dir);
  } else if (command === 'status') {
    const state = sourcesStatus(dir);
    if (state === null) {
      log(`sources: not running (${dir})`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
  } else {
    throw new RigError('usage: sources.ts start|stop|status [--dir DIR] [--listen ADDR] [--http-port N] [--registry-port N]');
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    log(`sources: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
