// Debian bookworm test hosts on this machine: each one a systemd-nspawn container booted with systemd
// as PID 1, in a network namespace of its own, with an address on a bridge the rig makes, sshd with
// keys generated at start and a user `debian` with passwordless sudo. The hosts reach the bridge
// address and each other, nothing else: the machine never forwards their traffic.
//
//   hosts.ts start  [--dir DIR] [--names a,b,c | --count N] [--subnet CIDR] [--prefix P]
//   hosts.ts stop   [--dir DIR]      (DIR defaults to $LAB_HOSTS_DIR)
//   hosts.ts status [--dir DIR]
//   hosts.ts rootfs                  build (or find) the cached rootfs and print its folder
//
// Entry point: scripts/hosts.sh. State: DIR/hosts.json (tests/rig/state.ts), DIR/ssh/config.
import { ChildProcess, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import { Hierarchy, cgroupHierarchies, cgroupTreePids, makeCgroup, memoryOf, removeCgroupTree } from './cgroups';
import { BIND_TARGETS, PACKAGES, Rootfs, SUITE, USER, ensureRootfs } from './rootfs';
import { FirewallStep, HostState, HostsState, STATE_VERSION, readHostsState, statePath, writeHostsState } from './state';
import { RigError, ensureTools, exec, exists, isProcessRunning, log, must, sleep, tool } from './util';

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------
export const DEFAULT_NAMES = ['nieve', 'sansa', 'arya'] as const;
export const DEFAULT_SUBNET = '10.213.0.0/24';
export const DEFAULT_PREFIX = 'lab';
const SSH_PORT = 22;
// Host n gets the subnet's address .10+n, the bridge .1.
const FIRST_HOST_OFFSET = 10;
const BOOT_TIMEOUT_MS = 60_000;
const MARKER = '.lab-hosts';
// Notes of what some rig created outside its run folder on this machine (see stop).
const MADE_BY_RIGS = '/run/kubeadm-istio-lab-hosts';

/** True if pid is the systemd-nspawn this rig launched for a host (guards against a recycled pid). */
function isHostProcess(pid: number, host: HostState): boolean {
  if (!isProcessRunning(pid)) {
    return false;
  }
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => path.basename(a) === 'systemd-nspawn') && argv.includes(`--machine=${host.name}`) &&
      argv.includes(host.rootDir);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------
function ipToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new RigError(`not an IPv4 address: ${ip}`);
  }
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

interface Subnet {
  network: number;
  prefixLength: number;
}

function parseSubnet(cidr: string): Subnet {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (m === null || Number(m[2]) < 16 || Number(m[2]) > 28) {
    throw new RigError(`--subnet must be an IPv4 CIDR from /16 to /28, got ${cidr}`);
  }
  const prefixLength = Number(m[2]);
  return { network: (ipToInt(m[1]) & maskOf(prefixLength)) >>> 0, prefixLength };
}

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function inSubnet(ip: string, s: Subnet): boolean {
  return ((ipToInt(ip) & maskOf(s.prefixLength)) >>> 0) === s.network;
}

interface IpAddrEntry {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** Refuses a subnet that overlaps an address of this machine (`ip -4 addr`): eth0's range is never ours. */
async function checkSubnetFree(s: Subnet): Promise<void> {
  const entries = JSON.parse(await must(tool('ip'), ['-j', '-4', 'addr'])) as IpAddrEntry[];
  for (const e of entries) {
    for (const a of e.addr_info) {
      const theirs: Subnet = { network: (ipToInt(a.local) & maskOf(a.prefixlen)) >>> 0, prefixLength: a.prefixlen };
      const overlaps = inSubnet(intToIp(theirs.network), s) || inSubnet(intToIp(s.network), theirs);
      if (overlaps) {
        throw new RigError(`subnet ${intToIp(s.network)}/${s.prefixLength} overlaps ${e.ifname}'s ${a.local}/${a.prefixlen}: pick another --subnet`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Plan: every name the rig will create, decided (and checked free) before anything is made
// ---------------------------------------------------------------------------------------------
export interface StartOptions {
  runDir: string;
  names: string[];
  subnet: string;
  prefix: string;
}

function firewallPlan(prefix: string, bridge: string, bridgeAddress: string): FirewallStep[] {
  const fwd = `${prefix.toUpperCase()}-HOSTS-FWD`;
  const input = `${prefix.toUpperCase()}-HOSTS-IN`;
  const steps: FirewallStep[] = [];
  for (const command of ['iptables', 'ip6tables'] as const) {
    steps.push(
      { command, args: ['-N', fwd] },
      // Bridged host-to-host frames pass FORWARD too (br_netfilter is built in): keep those.
      { command, args: ['-A', fwd, '-i', bridge, '-o', bridge, '-j', 'ACCEPT'] },
      { command, args: ['-A', fwd, '-j', 'DROP'] },
      { command, args: ['-I', 'FORWARD', '1', '-i', bridge, '-j', fwd] },
      { command, args: ['-I', 'FORWARD', '1', '-o', bridge, '-j', fwd] },
      { command, args: ['-N', input] },
      // The machine's other addresses (eth0's) are local too: only the bridge address answers.
      ...(command === 'iptables' ? [{ command, args: ['-A', input, '-d', bridgeAddress, '-j', 'ACCEPT'] }] : []),
      { command, args: ['-A', input, '-j', 'DROP'] },
      { command, args: ['-I', 'INPUT', '1', '-i', bridge, '-j', input] },
    );
  }
  return steps;
}

/** The commands that undo one firewall step (none for a rule inside a chain: flushing the chain removes it). */
function undoStep(step: FirewallStep): string[][] {
  const [op, chain, ...rest] = step.args;
  if (op === '-N') {
    return [['-F', chain], ['-X', chain]];
  }
  if (op === '-I') {
    return [['-D', chain, ...rest.slice(1)]];
  }
  return [];
}

function hostNamesFromArgs(names: string | undefined, count: string | undefined): string[] {
  if (names !== undefined) {
    return names.split(',').map((n) => n.trim()).filter((n) => n !== '');
  }
  const n = count === undefined ? DEFAULT_NAMES.length : Number(count);
  if (!Number.isInteger(n) || n < 1 || n > 50) {
    throw new RigError(`--count must be 1..50, got ${String(count)}`);
  }
  return Array.from({ length: n }, (_, i) => DEFAULT_NAMES[i] ?? `host${i + 1}`);
}

async function plan(o: StartOptions, rootfs: Rootfs): Promise<HostsState> {
  if (!/^[a-z][a-z0-9]{0,5}$/.test(o.prefix)) {
    throw new RigError(`--prefix must be 1-6 lower-case letters/digits, got ${o.prefix}`);
  }
  if (o.names.length === 0 || new Set(o.names).size !== o.names.length) {
    throw new RigError(`host names must be given and distinct: ${o.names.join(',')}`);
  }
  for (const name of o.names) {
    // Interface names are limited to 15 characters: prefix-name.
    if (!/^[a-z][a-z0-9-]*$/.test(name) || o.prefix.length + 1 + name.length > 15) {
      throw new RigError(`host name ${name}: lower-case letters, digits, '-', and at most ${14 - o.prefix.length} characters`);
    }
  }
  const subnet = parseSubnet(o.subnet);
  const size = 2 ** (32 - subnet.prefixLength);
  if (FIRST_HOST_OFFSET + o.names.length >= size - 1) {
    throw new RigError(`subnet ${o.subnet} is too small for ${o.names.length} hosts`);
  }
  await checkSubnetFree(subnet);
  const bridgeName = `${o.prefix}-hosts`;
  const bridgeAddress = intToIp(subnet.network + 1);
  const ip = tool('ip');
  const links = (JSON.parse(await must(ip, ['-j', 'link'])) as { ifname: string }[]).map((l) => l.ifname);
  const netnses = (await must(ip, ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
  const taken = [bridgeName, ...o.names.map((n) => `${o.prefix}-${n}`)].filter((n) => links.includes(n) || netnses.includes(n));
  if (taken.length > 0) {
    throw new RigError(`${taken.join(', ')} already exist: another rig with prefix '${o.prefix}' runs (stop it, or pass --prefix)`);
  }
  const firewall = firewallPlan(o.prefix, bridgeName, bridgeAddress);
  for (const chain of new Set(firewall.filter((s) => s.args[0] === '-N').map((s) => s.args[1]))) {
    if ((await exec(tool('iptables'), ['-t', 'filter', '-S', chain])).code === 0) {
      throw new RigError(`iptables chain ${chain} already exists: another rig with prefix '${o.prefix}' runs`);
    }
  }
  const runId = crypto.randomBytes(4).toString('hex');
  const hierarchies = cgroupHierarchies();
  const cgroupLeaf = `kubeadm-istio-lab-${o.prefix}-${runId}`;
  const sshDir = path.join(o.runDir, 'ssh');
  const hosts: HostState[] = o.names.map((name, i) => {
    const dir = path.join(o.runDir, 'hosts', name);
    return {
      name,
      address: intToIp(subnet.network + FIRST_HOST_OFFSET + i),
      port: SSH_PORT,
      user: USER,
      netns: `${o.prefix}-${name}`,
      hostVeth: `${o.prefix}-${name}`,
      rootDir: path.join(dir, 'root'),
      upperDir: path.join(dir, 'upper'),
      workDir: path.join(dir, 'work'),
      binds: Object.fromEntries(BIND_TARGETS.map((t) => [t, path.join(dir, path.basename(t))])),
      cgroups: hierarchies.map((h) => path.join(h.mountPoint, h.ownPath, cgroupLeaf, name)),
      memoryCgroup: hierarchies.filter((h) => h.isMemory).map((h) => path.join(h.mountPoint, h.ownPath, cgroupLeaf, name))[0] ?? null,
      machineId: crypto.randomBytes(16).toString('hex'),
      hostKey: '',
      logPath: path.join(dir, 'console.log'),
      nspawnLock: null,
      pid: null,
      bootToSshSeconds: null,
      memory: null,
    };
  });
  return {
    version: STATE_VERSION,
    phase: 'starting',
    runId,
    runDir: o.runDir,
    createdAt: new Date().toISOString(),
    prefix: o.prefix,
    bridge: { name: bridgeName, address: bridgeAddress, prefixLength: subnet.prefixLength, subnet: `${intToIp(subnet.network)}/${subnet.prefixLength}` },
    ssh: {
      user: USER,
      port: SSH_PORT,
      privateKeyPath: path.join(sshDir, 'id_ed25519'),
      publicKeyPath: path.join(sshDir, 'id_ed25519.pub'),
      knownHostsPath: path.join(sshDir, 'known_hosts'),
      configPath: path.join(sshDir, 'config'),
    },
    rootfs: { dir: rootfs.dir, key: rootfs.key, suite: SUITE, packages: PACKAGES, buildSeconds: rootfs.buildSeconds, cached: rootfs.cached },
    hosts,
    firewall,
    cgroupParents: hierarchies.map((h) => path.join(h.mountPoint, h.ownPath, cgroupLeaf)),
    created: { netnsDir: !exists('/run/netns'), nspawnRunDir: !exists('/run/systemd/nspawn') },
  };
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------
async function makeKeys(state: HostsState): Promise<void> {
  const keygen = tool('ssh-keygen');
  fs.mkdirSync(path.dirname(state.ssh.privateKeyPath), { recursive: true, mode: 0o700 });
  await must(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', `lab-hosts-${state.runId}`, '-f', state.ssh.privateKeyPath]);
  const known: string[] = [];
  const config: string[] = [];
  for (const h of state.hosts) {
    const keyFile = path.join(path.dirname(h.rootDir), 'ssh_host_ed25519_key');
    fs.mkdirSync(path.dirname(keyFile), { recursive: true });
    await must(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', `root@${h.name}`, '-f', keyFile]);
    h.hostKey = fs.readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    known.push(`${h.name},${h.address} ${h.hostKey}`);
    config.push(
      `Host ${h.name}`,
      `  HostName ${h.address}`,
      `  Port ${h.port}`,
      `  User ${h.user}`,
      `  IdentityFile ${state.ssh.privateKeyPath}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${state.ssh.knownHostsPath}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  ConnectTimeout 5',
      '',
    );
  }
  fs.writeFileSync(state.ssh.knownHostsPath, `${known.join('\n')}\n`);
  fs.writeFileSync(state.ssh.configPath, `${config.join('\n')}`);
}

function noteMadeByRig(state: HostsState): void {
  const notes: [boolean, string][] = [[state.created.netnsDir, 'netns-dir'], [state.created.nspawnRunDir, 'nspawn-dir']];
  for (const [made, name] of notes) {
    if (made) {
      fs.mkdirSync(MADE_BY_RIGS, { recursive: true });
      fs.writeFileSync(path.join(MADE_BY_RIGS, name), `${state.runDir}\n`);
    }
  }
}

async function makeNetwork(state: HostsState): Promise<void> {
  noteMadeByRig(state);
  const ip = tool('ip');
  const br = state.bridge;
  await must(ip, ['link', 'add', br.name, 'type', 'bridge']);
  // No IPv6 on the machine's side of the bridge: the hosts' only way out is the IPv4 bridge address.
  fs.writeFileSync(`/proc/sys/net/ipv6/conf/${br.name}/disable_ipv6`, '1');
  await must(ip, ['addr', 'add', `${br.address}/${br.prefixLength}`, 'dev', br.name]);
  await must(ip, ['link', 'set', br.name, 'up']);
  for (const step of state.firewall) {
    await must(tool(step.command), ['-t', 'filter', '-w', '5', ...step.args]);
  }
  for (const h of state.hosts) {
    await must(ip, ['netns', 'add', h.netns]);
    await must(ip, ['link', 'add', h.hostVeth, 'type', 'veth', 'peer', 'name', 'host0', 'netns', h.netns]);
    fs.writeFileSync(`/proc/sys/net/ipv6/conf/${h.hostVeth}/disable_ipv6`, '1');
    await must(ip, ['link', 'set', h.hostVeth, 'master', br.name, 'up']);
    // Configured from outside, like a cloud image's static address: nothing to run inside for it.
    await must(ip, ['-n', h.netns, 'addr', 'add', `${h.address}/${br.prefixLength}`, 'dev', 'host0']);
    await must(ip, ['-n', h.netns, 'link', 'set', 'lo', 'up']);
    await must(ip, ['-n', h.netns, 'link', 'set', 'host0', 'up']);
    // kubeadm needs a default route; the machine drops whatever takes it (see firewallPlan).
    await must(ip, ['-n', h.netns, 'route', 'add', 'default', 'via', br.address]);
  }
}

function uidGid(rootDir: string, user: string): { uid: number; gid: number } {
  const line = fs.readFileSync(path.join(rootDir, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (line === undefined) {
    throw new RigError(`user ${user} missing from the rootfs`);
  }
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** The overlay root of one host and what is its own: name, machine id, host key, authorized key. */
async function makeRoot(state: HostsState, h: HostState): Promise<void> {
  for (const d of [h.upperDir, h.workDir, h.rootDir, ...Object.values(h.binds)]) {
    fs.mkdirSync(d, { recursive: true });
  }
  if (fs.statfsSync(path.dirname(h.rootDir)).type === 0x794c7630) {
    throw new RigError(`${state.runDir} is on overlayfs: containerd's snapshotter fails there; use a --dir on ext4`);
  }
  await must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${state.rootfs.dir},upperdir=${h.upperDir},workdir=${h.workDir}`, h.rootDir]);
  const r = h.rootDir;
  fs.writeFileSync(path.join(r, 'etc/hostname'), `${h.name}\n`);
  fs.writeFileSync(
    path.join(r, 'etc/hosts'),
    ['127.0.0.1 localhost', `127.0.1.1 ${h.name}`, '::1 localhost ip6-localhost ip6-loopback', ...state.hosts.map((o) => `${o.address} ${o.name}`), ''].join('\n'),
  );
  fs.writeFileSync(path.join(r, 'etc/machine-id'), `${h.machineId}\n`);
  // CoreDNS forwards names outside the cluster to the node's resolver and will not start without one.
  // The address after the bridge's is no machine's: a query ends on the hosts' own bridge, unanswered,
  // as it would on an offline network.
  fs.writeFileSync(path.join(r, 'etc/resolv.conf'), `# test host: no DNS server answers here (CoreDNS needs an upstream to start)\nnameserver ${intToIp(ipToInt(state.bridge.address) + 1)}\n`);
  const keyFile = path.join(path.dirname(h.rootDir), 'ssh_host_ed25519_key');
  fs.copyFileSync(keyFile, path.join(r, 'etc/ssh/ssh_host_ed25519_key'));
  fs.chmodSync(path.join(r, 'etc/ssh/ssh_host_ed25519_key'), 0o600);
  fs.copyFileSync(`${keyFile}.pub`, path.join(r, 'etc/ssh/ssh_host_ed25519_key.pub'));
  const { uid, gid } = uidGid(r, USER);
  const sshDir = path.join(r, 'home', USER, '.ssh');
  fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  fs.copyFileSync(state.ssh.publicKeyPath, path.join(sshDir, 'authorized_keys'));
  fs.chmodSync(path.join(sshDir, 'authorized_keys'), 0o600);
  fs.chownSync(sshDir, uid, gid);
  fs.chownSync(path.join(sshDir, 'authorized_keys'), uid, gid);
}

// Puts itself (then, by exec, systemd-nspawn) into every cgroup named before "--": no window in which
// the host's first processes start outside them.
const LAUNCHER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"';

function nspawnArgs(h: HostState): string[] {
  return [
    '-D', h.rootDir,
    '--boot',
    // No systemd on this machine to register with or to make a scope: both need its bus.
    '--register=no', '--keep-unit',
    `--machine=${h.name}`,
    `--uuid=${h.machineId}`,
    '--console=read-only',
    '--system-call-filter=@keyring',
    // kubelet, kube-proxy and CNI plugins configure links and iptables inside the host's namespace.
    // (CAP_SYS_RESOURCE would help containerd's OOMScoreAdjust, but this machine's own sessions lack it.)
    '--capability=CAP_NET_ADMIN',
    `--network-namespace-path=/run/netns/${h.netns}`,
    '--resolv-conf=off', '--timezone=off', '--link-journal=no',
    ...Object.entries(h.binds).map(([inside, outside]) => `--bind=${outside}:${inside}`),
  ];
}

function launch(h: HostState, hierarchies: Hierarchy[]): ChildProcess {
  for (const dir of h.cgroups) {
    const hier = hierarchies.find((x) => dir.startsWith(`${x.mountPoint}/`));
    if (hier === undefined) {
      throw new RigError(`no cgroup hierarchy for ${dir}`);
    }
    makeCgroup(hier, dir);
  }
  const logFd = fs.openSync(h.logPath, 'a');
  const child = spawn('/bin/sh', ['-c', LAUNCHER, 'lab-host-launch', ...h.cgroups.map((d) => path.join(d, 'cgroup.procs')), '--', tool('systemd-nspawn'), ...nspawnArgs(h)], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    // With --network-namespace-path nspawn keeps /proc/sys/net read-only; kubeadm needs to set ip_forward
    // and bridge-nf-call-iptables there (per namespace, not the machine's).
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' },
  });
  fs.closeSync(logFd);
  child.unref();
  return child;
}

export function sshArgs(state: HostsState, h: HostState, connectTimeoutSeconds = 5): string[] {
  return [
    '-i', state.ssh.privateKeyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${state.ssh.knownHostsPath}`,
    '-o', `ConnectTimeout=${connectTimeoutSeconds}`,
    '-o', 'LogLevel=ERROR',
    '-p', String(h.port),
    `${h.user}@${h.address}`,
  ];
}

function tail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitForSsh(state: HostsState, h: HostState, startedAt: number): Promise<number> {
  const ssh = tool('ssh');
  const deadline = startedAt + BOOT_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (h.pid === null || !isProcessRunning(h.pid)) {
      throw new RigError(`${h.name}: systemd-nspawn exited during boot; last lines of ${h.logPath}:\n${tail(h.logPath)}`);
    }
    const r = await exec(ssh, [...sshArgs(state, h, 1), 'true'], 5000);
    if (r.code === 0) {
      return (Date.now() - startedAt) / 1000;
    }
    last = r.stderr.trim();
    await sleep(100);
  }
  throw new RigError(`${h.name}: no SSH login within ${BOOT_TIMEOUT_MS / 1000}s (last: ${last}); last lines of ${h.logPath}:\n${tail(h.logPath)}`);
}

/** Under sudo, the caller (a test, a Pulumi stack) gets the state file and the client key. */
function handToCaller(state: HostsState): void {
  const uid = Number(process.env.SUDO_UID);
  const gid = Number(process.env.SUDO_GID);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) {
    return;
  }
  const sshDir = path.dirname(state.ssh.privateKeyPath);
  for (const file of [state.runDir, statePath(state.runDir), sshDir, ...fs.readdirSync(sshDir).map((f) => path.join(sshDir, f))]) {
    fs.chownSync(file, uid, gid);
  }
}

export async function start(o: StartOptions): Promise<HostsState> {
  if (process.getuid?.() !== 0) {
    throw new RigError('the test hosts need root (network namespaces, mounts, iptables, cgroups): run scripts/hosts.sh, which uses sudo');
  }
  await ensureTools();
  const freshDir = !exists(o.runDir) || fs.readdirSync(o.runDir).length === 0;
  fs.mkdirSync(o.runDir, { recursive: true });
  if (exists(path.join(o.runDir, MARKER))) {
    throw new RigError(`${o.runDir} already holds test hosts: stop them first`);
  }
  if (!freshDir) {
    throw new RigError(`${o.runDir} is not empty`);
  }
  log(`run folder ${o.runDir}; hosts ${o.names.join(', ')} on ${o.subnet}`);
  let state: HostsState;
  try {
    const rootfs = await ensureRootfs();
    log(`rootfs ${rootfs.cached ? 'cached' : 'built'} in ${rootfs.buildSeconds.toFixed(1)}s: ${rootfs.dir}`);
    state = await plan(o, rootfs);
  } catch (err) {
    // Nothing was made yet but the (empty) run folder.
    fs.rmSync(o.runDir, { recursive: true, force: true });
    throw err;
  }
  fs.writeFileSync(path.join(o.runDir, MARKER), '');
  writeHostsState(state);
  try {
    await makeKeys(state);
    await makeNetwork(state);
    log(`bridge ${state.bridge.name} ${state.bridge.address}/${state.bridge.prefixLength}, ${state.hosts.length} namespaces and veths, firewall chains in place`);
    const hierarchies = cgroupHierarchies();
    const launched: number[] = [];
    for (const h of state.hosts) {
      await makeRoot(state, h);
      const root = fs.statSync(h.rootDir);
      h.nspawnLock = `/run/systemd/nspawn/locks/inode-${root.dev}:${root.ino}`;
      launched.push(Date.now());
      h.pid = launch(h, hierarchies).pid ?? null;
      writeHostsState(state);
    }
    log(`systemd-nspawn launched for ${state.hosts.map((h) => `${h.name} (pid ${String(h.pid)})`).join(', ')}; waiting for SSH`);
    await Promise.all(
      state.hosts.map(async (h, i) => {
        h.bootToSshSeconds = await waitForSsh(state, h, launched[i]);
        log(`${h.name} ${h.address}: first SSH login ${h.bootToSshSeconds.toFixed(2)}s after launch`);
      }),
    );
    for (const h of state.hosts) {
      h.memory = memoryOf(h.memoryCgroup);
    }
    state.phase = 'running';
    writeHostsState(state);
    handToCaller(state);
    log(
      `memory right after boot: ${state.hosts.map((h) => (h.memory === null ? `${h.name} ?` : `${h.name} ${h.memory.usageMiB} MiB (rss ${h.memory.rssMiB}, cache ${h.memory.cacheMiB})`)).join('; ')}`,
    );
    log(`ready: LAB_HOSTS_DIR=${o.runDir}; state ${statePath(o.runDir)}; ssh -F ${state.ssh.configPath} ${state.hosts[0].name}`);
    return state;
  } catch (err) {
    log(`start failed: ${err instanceof Error ? err.message : String(err)}`);
    log('removing what was made');
    await stop(o.runDir);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Stop
// ---------------------------------------------------------------------------------------------
function mountsUnder(dir: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[4].replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

async function stopHost(h: HostState): Promise<void> {
  if (h.pid !== null && isHostProcess(h.pid, h)) {
    // nspawn turns SIGTERM into an orderly shutdown of the host's systemd.
    process.kill(h.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isProcessRunning(h.pid) && Date.now() < deadline) {
      await sleep(100);
    }
    if (isHostProcess(h.pid, h)) {
      log(`${h.name}: systemd-nspawn still running after 10s: SIGKILL; last console lines:\n${tail(h.logPath, 8)}`);
      process.kill(h.pid, 'SIGKILL');
    }
  }
  // Whatever is left in the host's cgroups (after a SIGKILL of nspawn, the host's own processes).
  for (let round = 0; round < 50; round++) {
    const left = [...new Set(h.cgroups.flatMap(cgroupTreePids))];
    if (left.length === 0) {
      break;
    }
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(100);
  }
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty or not there: not ours to remove
  }
}

export async function stop(runDir: string): Promise<void> {
  if (!exists(runDir)) {
    log(`${runDir} does not exist: nothing to stop`);
    return;
  }
  if (!exists(path.join(runDir, MARKER))) {
    throw new RigError(`${runDir} was not made by the host rig (no ${MARKER}): not touching it`);
  }
  if (!exists(statePath(runDir))) {
    fs.rmSync(runDir, { recursive: true, force: true });
    return;
  }
  const state = readHostsState(runDir);
  const ip = tool('ip');
  const problems: string[] = [];
  await Promise.all(state.hosts.map(stopHost));
  log(`hosts stopped: ${state.hosts.map((h) => h.name).join(', ')}`);
  for (const h of state.hosts) {
    for (const m of mountsUnder(path.dirname(h.rootDir)).reverse()) {
      const r = await exec('umount', [m]);
      if (r.code !== 0) {
        problems.push(`umount ${m}: ${r.stderr.trim()}`);
      }
    }
    await exec(ip, ['netns', 'delete', h.netns]);
    await exec(ip, ['link', 'delete', h.hostVeth]);
    // nspawn refuses to remove its propagation folder when /run is not a tmpfs (it is a disk here).
    fs.rmSync(`/run/systemd/nspawn/propagate/${h.name}`, { recursive: true, force: true });
    if (h.nspawnLock !== null) {
      fs.rmSync(h.nspawnLock, { force: true });
    }
    for (const cg of h.cgroups) {
      try {
        removeCgroupTree(cg);
      } catch (err) {
        problems.push(`cgroup ${cg}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  await exec(ip, ['link', 'delete', state.bridge.name]);
  for (const step of [...state.firewall].reverse()) {
    for (const args of undoStep(step)) {
      await exec(tool(step.command), ['-t', 'filter', '-w', '5', ...args]);
    }
  }
  for (const parent of state.cgroupParents) {
    try {
      removeCgroupTree(parent);
    } catch (err) {
      problems.push(`cgroup ${parent}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // `ip netns add` bind-mounts /run/netns onto itself the first time. Whichever rig stops last undoes
  // that, if a rig was first (two rigs may stop in either order: hence a marker, not only our state).
  const netnsMarker = path.join(MADE_BY_RIGS, 'netns-dir');
  if ((state.created.netnsDir || exists(netnsMarker)) && exists('/run/netns') && fs.readdirSync('/run/netns').length === 0) {
    await exec('umount', ['/run/netns']);
    removeIfEmpty('/run/netns');
    fs.rmSync(netnsMarker, { force: true });
  }
  const nspawnMarker = path.join(MADE_BY_RIGS, 'nspawn-dir');
  if (state.created.nspawnRunDir || exists(nspawnMarker)) {
    for (const d of ['/run/systemd/nspawn/propagate', '/run/systemd/nspawn/locks', '/run/systemd/nspawn']) {
      removeIfEmpty(d);
    }
    if (!exists('/run/systemd/nspawn')) {
      fs.rmSync(nspawnMarker, { force: true });
    }
  }
  removeIfEmpty(MADE_BY_RIGS);
  const leftMounts = mountsUnder(runDir);
  if (leftMounts.length > 0) {
    throw new RigError(`still mounted, run folder kept: ${leftMounts.join(', ')}; ${problems.join('; ')}`);
  }
  fs.rmSync(runDir, { recursive: true, force: true });
  if (problems.length > 0) {
    throw new RigError(`stopped with problems: ${problems.join('; ')}`);
  }
  log(`stopped; removed namespaces, veths, bridge ${state.bridge.name}, firewall chains, cgroups and ${runDir}`);
}

// ---------------------------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------------------------
export async function status(runDir: string): Promise<boolean> {
  if (!exists(statePath(runDir))) {
    process.stdout.write(`no test hosts in ${runDir}\n`);
    return false;
  }
  const state = readHostsState(runDir);
  const ssh = tool('ssh');
  let ok = true;
  const bridgeUp = (await exec(tool('ip'), ['link', 'show', state.bridge.name])).code === 0;
  ok &&= bridgeUp;
  process.stdout.write(`bridge ${state.bridge.name} ${state.bridge.address}/${state.bridge.prefixLength}: ${bridgeUp ? 'up' : 'missing'}\n`);
  const chains = [...new Set(state.firewall.filter((s) => s.args[0] === '-N').map((s) => `${s.command} ${s.args[1]}`))];
  for (const c of chains) {
    const [cmd, chain] = c.split(' ');
    const present = (await exec(tool(cmd), ['-t', 'filter', '-S', chain])).code === 0;
    ok &&= present;
    process.stdout.write(`firewall ${c}: ${present ? 'present' : 'missing'}\n`);
  }
  for (const h of state.hosts) {
    const running = h.pid !== null && isHostProcess(h.pid, h);
    let answer = 'no answer';
    if (running) {
      const r = await exec(ssh, [...sshArgs(state, h, 2), 'systemctl is-system-running'], 10_000);
      answer = r.code === 0 || r.stdout.trim() !== '' ? `ssh ok, systemd ${r.stdout.trim()}` : `ssh failed: ${r.stderr.trim()}`;
      ok &&= r.stdout.trim() === 'running' || r.stdout.trim() === 'degraded';
    } else {
      ok = false;
    }
    const mem = memoryOf(h.memoryCgroup);
    process.stdout.write(
      `${h.name.padEnd(8)} ${h.address.padEnd(14)} ${running ? `running (pid ${String(h.pid)})` : 'not running'}; ${answer}` +
        `${mem === null ? '' : `; memory ${mem.usageMiB} MiB (rss ${mem.rssMiB})`}\n`,
    );
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------
function parseFlags(args: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(args[i]);
    if (m === null) {
      throw new RigError(`unexpected argument ${args[i]}`);
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) {
      throw new RigError(`--${m[1]} needs a value`);
    }
    flags.set(m[1], value);
  }
  return flags;
}

function dirFrom(flags: Map<string, string>): string {
  const dir = flags.get('dir') ?? process.env.LAB_HOSTS_DIR;
  if (dir === undefined || dir === '') {
    throw new RigError('no run folder: pass --dir DIR or set LAB_HOSTS_DIR');
  }
  return path.resolve(dir);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const flags = parseFlags(rest);
  switch (command) {
    case 'start': {
      const allowed = new Set(['dir', 'names', 'count', 'subnet', 'prefix']);
      for (const k of flags.keys()) {
        if (!allowed.has(k)) {
          throw new RigError(`start: unknown option --${k}`);
        }
      }
      const runDir = flags.has('dir') ? path.resolve(flags.get('dir') ?? '') : fs.mkdtempSync('/tmp/lab-hosts.');
      await start({
        runDir,
        names: hostNamesFromArgs(flags.get('names'), flags.get('count')),
        subnet: flags.get('subnet') ?? DEFAULT_SUBNET,
        prefix: flags.get('prefix') ?? DEFAULT_PREFIX,
      });
      return 0;
    }
    case 'stop':
      await stop(dirFrom(flags));
      return 0;
    case 'status':
      return (await status(dirFrom(flags))) ? 0 : 1;
    case 'rootfs': {
      await ensureTools();
      const r = await ensureRootfs();
      log(`rootfs ${r.cached ? 'cached' : 'built'} in ${r.buildSeconds.toFixed(1)}s`);
      process.stdout.write(`${r.dir}\n`);
      return 0;
    }
    default:
      process.stderr.write(
        'usage: hosts.ts start [--dir DIR] [--names a,b,c | --count N] [--subnet CIDR] [--prefix P] | stop [--dir DIR] | status [--dir DIR] | rootfs\n',
      );
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`[hosts] ERROR: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
