// The Debian test hosts (scripts/hosts.sh, tests/rig/hosts.ts): three systemd-nspawn hosts booted to
// SSH, each in a network namespace of the test's own, on a bridge that reaches nothing else.
// Network rule: this suite sends packets only to the hosts it starts and to its own bridge address;
// isolation from everything else is shown by reading rules and routes, never by sending a packet.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

import { CommandError, isProcessRunning, run } from './support/cluster';
import { HostState, HostsState, readHostsState } from '../rig/state';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const HOSTS_SCRIPT = path.join(REPO_ROOT, 'scripts', 'hosts.sh');
// Own prefix and subnet, so the suite can run while a developer's rig (prefix lab, 10.213.0.0/24) is up.
const PREFIX = 'labt';
const SUBNET = '10.213.200.0/24';
const NAMES = ['nieve', 'sansa', 'arya'];

const isRoot = process.getuid?.() === 0;
const canSudo = (): boolean => {
  try {
    execFileSync('sudo', ['-n', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// Namespaces, mounts and iptables need root; skip (visibly) where neither root nor sudo is at hand.
const describeIfRoot = isRoot || canSudo() ? describe : describe.skip;

async function hostsSh(args: string[], timeoutMs: number): Promise<string> {
  const r = await run('bash', [HOSTS_SCRIPT, ...args], { timeoutMs, cwd: REPO_ROOT });
  return r.stdout + r.stderr;
}

/** Runs a command on the host as root of this machine (the test runs as root, or via sudo -n). */
async function asRoot(file: string, args: string[], timeoutMs = 10_000): Promise<string> {
  const r = isRoot ? await run(file, args, { timeoutMs }) : await run('sudo', ['-n', file, ...args], { timeoutMs });
  return r.stdout;
}

function sshArgs(state: HostsState, host: HostState): string[] {
  return [
    '-i', state.ssh.privateKeyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${state.ssh.knownHostsPath}`,
    '-o', 'ConnectTimeout=5',
    '-o', 'LogLevel=ERROR',
    '-p', String(host.port),
    `${host.user}@${host.address}`,
  ];
}

async function onHost(state: HostsState, host: HostState, script: string, timeoutMs = 15_000): Promise<string> {
  const r = await run('ssh', [...sshArgs(state, host), 'bash', '-s'], { timeoutMs, input: script });
  return r.stdout;
}

describeIfRoot('Debian test hosts (scripts/hosts.sh)', () => {
  let dir = '';
  let state: HostsState;
  let startOutput = '';

  beforeAll(async () => {
    // A cold rootfs (debootstrap) takes minutes once per package list; cached, this step is instant.
    await hostsSh(['rootfs'], 15 * 60_000);
  }, 16 * 60_000);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-hosts-test.'));
    startOutput = await hostsSh(['start', '--dir', dir, '--names', NAMES.join(','), '--subnet', SUBNET, '--prefix', PREFIX], 120_000);
    state = readHostsState(dir);
  }, 130_000);

  afterAll(async () => {
    // The last test stops the hosts; this is for a run that failed before it.
    if (dir !== '' && fs.existsSync(dir)) {
      await hostsSh(['stop', '--dir', dir], 60_000);
    }
  }, 70_000);

  test('start refuses a subnet that overlaps an address of this machine, and makes nothing', async () => {
    // 127.0.0.0/16 overlaps lo's 127.0.0.1/8 on every machine; the rig checks `ip -4 addr` first.
    const refused = path.join(os.tmpdir(), `lab-hosts-refused-${process.pid}`);
    await expect(hostsSh(['start', '--dir', refused, '--count', '1', '--subnet', '127.0.0.0/16', '--prefix', 'labr'], 30_000)).rejects.toThrow(
      /subnet 127\.0\.0\.0\/16 overlaps lo's 127\.0\.0\.1\/8/,
    );
    expect(fs.existsSync(refused)).toBe(false);
    expect((await asRoot('ip', ['-o', 'link'])).includes('labr-')).toBe(false);
  }, 40_000);

  test('start boots three hosts and writes their names, addresses, ssh port, user, key and known_hosts', () => {
    expect(state.phase).toBe('running');
    expect(state.bridge).toMatchObject({ name: `${PREFIX}-hosts`, address: '10.213.200.1', prefixLength: 24 });
    expect(state.hosts.map((h) => [h.name, h.address, h.port, h.user])).toEqual([
      ['nieve', '10.213.200.10', 22, 'debian'],
      ['sansa', '10.213.200.11', 22, 'debian'],
      ['arya', '10.213.200.12', 22, 'debian'],
    ]);
    const known = fs.readFileSync(state.ssh.knownHostsPath, 'utf8');
    for (const h of state.hosts) {
      expect(known).toContain(`${h.name},${h.address} ${h.hostKey}`);
      expect(h.bootToSshSeconds).not.toBeNull();
    }
    expect(fs.statSync(state.ssh.privateKeyPath).mode & 0o077).toBe(0);
    expect(startOutput).toMatch(/first SSH login/);
  });

  test('each host answers over SSH with its hostname and address; PID 1 is systemd and the system is running', async () => {
    const failedUnits: string[] = [];
    for (const h of state.hosts) {
      const out = await onHost(state, h, [
        'hostname',
        'ip -4 -o addr show dev host0 | awk \'{print $4}\'',
        'ps -p 1 -o comm=',
        'systemctl is-system-running || true',
        'systemctl --failed --plain --no-legend | awk \'{print $1}\' | paste -sd, -',
      ].join('\n'));
      const [hostname, addr, pid1, running, failed] = out.split('\n');
      expect({ hostname, addr, pid1 }).toEqual({ hostname: h.name, addr: `${h.address}/24`, pid1: 'systemd' });
      expect(['running', 'degraded']).toContain(running);
      if (running === 'degraded') {
        failedUnits.push(`${h.name}: ${failed}`);
      }
    }
    // None fails today; if one starts to, the message names it.
    expect(failedUnits).toEqual([]);
  }, 30_000);

  test('debian has passwordless sudo', async () => {
    for (const h of state.hosts) {
      expect((await onHost(state, h, 'sudo -n true && sudo -n id -u')).trim()).toBe('0');
    }
  }, 20_000);

  test('hosts reach each other by name and the bridge address (a listener of the test\'s own)', async () => {
    // Listen on this suite's bridge address only: the one machine address the hosts may reach.
    const server = net.createServer((socket) => socket.end('from-the-bridge\n'));
    await new Promise<void>((resolve) => server.listen(0, state.bridge.address, resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      for (const h of state.hosts) {
        const others = state.hosts.filter((o) => o.name !== h.name);
        const script = [
          ...others.map((o) => `timeout 3 bash -c 'exec 3<>/dev/tcp/${o.name}/22; head -c 7 <&3'; echo " ${o.name}"`),
          `timeout 3 bash -c 'exec 3<>/dev/tcp/${state.bridge.address}/${port}; cat <&3'`,
        ].join('\n');
        const out = await onHost(state, h, script);
        expect(out.trim().split('\n')).toEqual([...others.map((o) => `SSH-2.0 ${o.name}`), 'from-the-bridge']);
      }
    } finally {
      server.close();
    }
  }, 30_000);

  test('cgroup controllers are writable, /var/lib/containerd and /var/lib/kubelet are not on overlay, /dev/kmsg exists', async () => {
    for (const h of state.hosts) {
      const out = await onHost(state, h, [
        'set -e',
        'for d in /sys/fs/cgroup/*/; do sudo -n mkdir "$d/lab-probe" && sudo -n rmdir "$d/lab-probe" && echo "rw $(basename "$d")"; done',
        'echo "root $(findmnt -no FSTYPE /)"',
        'echo "containerd $(findmnt -no FSTYPE -T /var/lib/containerd)"',
        'echo "kubelet $(findmnt -no FSTYPE -T /var/lib/kubelet)"',
        'test -e /dev/kmsg && echo kmsg',
      ].join('\n'));
      const lines = out.trim().split('\n');
      const rw = lines.filter((l) => l.startsWith('rw ')).map((l) => l.slice(3));
      expect(rw).toEqual(expect.arrayContaining(['memory', 'cpu', 'pids', 'devices', 'freezer', 'systemd']));
      expect(lines).toContain('root overlay');
      expect(lines.find((l) => l.startsWith('containerd '))).not.toMatch(/overlay/);
      expect(lines.find((l) => l.startsWith('kubelet '))).not.toMatch(/overlay/);
      expect(lines).toContain('kmsg');
    }
  }, 30_000);

  test('isolation: the machine drops everything the hosts send past the bridge (rules and routes; no packet sent)', async () => {
    const br = state.bridge.name;
    const fwd = `${PREFIX.toUpperCase()}-HOSTS-FWD`;
    const input = `${PREFIX.toUpperCase()}-HOSTS-IN`;
    for (const cmd of ['iptables', 'ip6tables']) {
      const forward = (await asRoot(cmd, ['-w', '5', '-S', 'FORWARD'])).split('\n');
      // Our jumps come before any other FORWARD rule, so nothing later can accept the hosts' traffic.
      expect(forward.slice(1, 3).sort()).toEqual([`-A FORWARD -i ${br} -j ${fwd}`, `-A FORWARD -o ${br} -j ${fwd}`].sort());
      expect((await asRoot(cmd, ['-w', '5', '-S', fwd])).trim().split('\n')).toEqual([
        `-N ${fwd}`,
        `-A ${fwd} -i ${br} -o ${br} -j ACCEPT`,
        `-A ${fwd} -j DROP`,
      ]);
      expect((await asRoot(cmd, ['-w', '5', '-S', 'INPUT'])).split('\n')[1]).toBe(`-A INPUT -i ${br} -j ${input}`);
    }
    expect((await asRoot('iptables', ['-w', '5', '-S', input])).trim().split('\n')).toEqual([
      `-N ${input}`,
      `-A ${input} -d ${state.bridge.address}/32 -j ACCEPT`,
      `-A ${input} -j DROP`,
    ]);
    // The rig never turns forwarding on; with it off the kernel has no route for a host's packet to
    // anywhere but its bridge (a lookup, not a packet).
    const ipForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
    expect(ipForward).toBe('0');
    const lookup = await asRoot('ip', ['route', 'get', '192.0.2.1', 'from', state.hosts[0].address, 'iif', br]).then(
      (out) => ({ ok: true, out }),
      (err: unknown) => ({ ok: false, out: err instanceof CommandError ? err.stderr : String(err) }),
    );
    expect(lookup.ok).toBe(false);
    for (const h of state.hosts) {
      const out = await onHost(state, h, 'ip -4 route\ngrep -rhs "^[[:space:]]*\\(deb\\|URIs\\)" /etc/apt/sources.list /etc/apt/sources.list.d/ || echo no-apt-source\ngrep nameserver /etc/resolv.conf || true');
      // One resolver, for CoreDNS to start with: the address after the bridge's, which no machine holds
      // (the hosts' own addresses start at .10), so a query never leaves the bridge and nobody answers.
      const [a, b, c, d] = state.bridge.address.split('.').map(Number);
      const silent = [a, b, c, d + 1].join('.');
      expect(state.hosts.map((x) => x.address)).not.toContain(silent);
      expect(out.trim().split('\n')).toEqual([
        `default via ${state.bridge.address} dev host0 `,
        `${state.bridge.subnet} dev host0 proto kernel scope link src ${h.address} `,
        'no-apt-source',
        `nameserver ${silent}`,
      ]);
    }
  }, 30_000);

  test('status reports every host running; stop leaves no namespace, link, mount, process, rule or cgroup', async () => {
    const statusOut = await hostsSh(['status', '--dir', dir], 30_000);
    for (const h of state.hosts) {
      expect(statusOut).toMatch(new RegExp(`^${h.name} +${h.address.replace(/\./g, '\\.')} +running .*systemd running`, 'm'));
    }
    const pids = state.hosts.map((h) => h.pid ?? -1);
    await hostsSh(['stop', '--dir', dir], 60_000);

    expect(fs.existsSync(dir)).toBe(false);
    expect(pids.filter((p) => isProcessRunning(p))).toEqual([]);
    const netns = await asRoot('ip', ['netns', 'list']);
    expect(netns.split('\n').filter((l) => l.startsWith(`${PREFIX}-`))).toEqual([]);
    if (state.created.netnsDir && netns.trim() === '') {
      // The rig made /run/netns (a bind mount of itself) and no other namespace is left: it is undone.
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/ \/run\/netns /);
    }
    const links = await asRoot('ip', ['-o', 'link']);
    expect(links.split('\n').filter((l) => l.includes(`${PREFIX}-`))).toEqual([]);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir))).toEqual([]);
    for (const cmd of ['iptables', 'ip6tables']) {
      expect((await asRoot(cmd, ['-w', '5', '-S'])).split('\n').filter((l) => l.includes(`${PREFIX.toUpperCase()}-HOSTS`))).toEqual([]);
    }
    expect([...state.cgroupParents, ...state.hosts.flatMap((h) => h.cgroups)].filter((d) => fs.existsSync(d))).toEqual([]);
    // No process of any host is left anywhere (by its root folder on the command line or its cwd).
    const leftovers = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    });
    expect(leftovers).toEqual([]);
    await expect(hostsSh(['status', '--dir', dir], 30_000)).rejects.toThrow(/no test hosts/);
  }, 90_000);
});
