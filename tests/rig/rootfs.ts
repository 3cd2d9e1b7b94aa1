// The test hosts' root file system: debootstrap once per package list (the slow, downloading part),
// then a customised copy per recipe (user, sudo, sshd, no apt sources, cgroup and kmsg fixes). Both
// are cached outside the clone under $LAB_CACHE/rootfs and only ever read once built: running hosts
// use the customised copy as their overlay's lowerdir.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

import { RigError, exec, exists, isProcessRunning, labCacheDir, log, must, sleep, tool } from './util';

export const SUITE = 'bookworm';
const VARIANT = 'minbase';
export const PACKAGES = [
  'openssh-server', 'systemd', 'systemd-sysv', 'dbus', 'iproute2', 'sudo', 'ca-certificates', 'gnupg', 'curl', 'kmod',
];
// Bump when customise() changes what it writes: the customised copy's key includes it.
const RECIPE = 3;
export const USER = 'debian';
// Host folders bound in at boot: overlayfs snapshots fail on an overlay root, kubelet keeps volumes here.
export const BIND_TARGETS = ['/var/lib/containerd', '/var/lib/kubelet'];

export interface Rootfs {
  dir: string;
  key: string;
  buildSeconds: number;
  cached: boolean;
}

function hash(value: object): string {
  return crypto.createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}

/** The Debian mirror apt on this machine already uses for SUITE (the one outside download allowed). */
export function debianMirror(): string {
  const files: string[] = [];
  if (exists('/etc/apt/sources.list')) {
    files.push('/etc/apt/sources.list');
  }
  if (exists('/etc/apt/sources.list.d')) {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d').sort()) {
      files.push(path.join('/etc/apt/sources.list.d', f));
    }
  }
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string): string[] =>
          (new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1] ?? '').split(/\s+/).filter((v) => v !== '');
        if (field('Types').includes('deb') && field('Suites').includes(SUITE) && field('Components').includes('main')) {
          return field('URIs')[0];
        }
      }
    } else if (file.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
        if (m !== null && m[2] === SUITE && m[3].split(/\s+/).includes('main')) {
          return m[1];
        }
      }
    }
  }
  throw new RigError(`no apt source for Debian ${SUITE} main in /etc/apt/sources.list*: the rootfs needs the mirror apt uses`);
}

/** mkdir as a lock (atomic); a lock whose holder died is taken over. */
async function withLock<T>(lockDir: string, body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(path.join(lockDir, 'pid'), String(process.pid));
      break;
    } catch {
      const holder = Number(fs.readFileSync(path.join(lockDir, 'pid'), { encoding: 'utf8', flag: 'a+' }));
      if (!Number.isInteger(holder) || holder <= 0 || !isProcessRunning(holder)) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new RigError(`${lockDir} held by pid ${holder} for 20 minutes`);
      }
      await sleep(1000);
    }
  }
  try {
    return await body();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

/** Builds dir once (into a temporary sibling, renamed when complete) unless its marker exists. */
async function cached(dir: string, build: (tmp: string) => Promise<void>): Promise<boolean> {
  const marker = path.join(dir, '.lab-rootfs.json');
  if (exists(marker)) {
    return true;
  }
  return withLock(`${dir}.lock`, async () => {
    if (exists(marker)) {
      return true;
    }
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    try {
      await build(tmp);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    return false;
  });
}

const CGROUP_RW_UNIT = `[Unit]
Description=Writable cgroup v1 controllers, for runc (kubeadm-istio-lab test host)
DefaultDependencies=no
Before=sysinit.target
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
# nspawn mounts the controllers read-only; containerd's runc needs to create cgroups in them.
ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do if mountpoint -q "$$d"; then mount -o remount,bind,rw "$$d"; fi; done'

[Install]
WantedBy=sysinit.target
`;

// kubelet sets six global kernel tunables at start and exits when it cannot (vm.*, kernel.* are read-only
// in a container; the kernel is this machine's). Each host gets its own copy of them: a file bound over
// the /proc/sys entry, holding the machine's value, which kubelet may then overwrite. The machine's kernel
// is never changed. (A user's container host, LXD's lxcfs say, does the same kind of thing.)
export const SHADOWED_TUNABLES = [
  'vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops', 'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes',
];
const TUNABLES_UNIT = `[Unit]
Description=Per-host copies of the global kernel tunables kubelet sets (kubeadm-istio-lab test host)
DefaultDependencies=no
Before=sysinit.target
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'mkdir -p /run/lab-sysctl; for t in ${SHADOWED_TUNABLES.join(' ')}; do f=/run/lab-sysctl/$$(echo $$t | tr / .); cat /proc/sys/$$t > $$f; mount --bind $$f /proc/sys/$$t; done'

[Install]
WantedBy=sysinit.target
`;

function write(root: string, file: string, content: string, mode?: number): void {
  fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  fs.writeFileSync(path.join(root, file), content, mode === undefined ? undefined : { mode });
}

/** What every host has in common. Per-host things (name, keys, machine id) are written at start. */
async function customise(dir: string): Promise<void> {
  const chroot = tool('chroot');
  await must(chroot, [dir, 'useradd', '--create-home', '--shell', '/bin/bash', USER]);
  write(dir, `etc/sudoers.d/${USER}`, `${USER} ALL=(ALL) NOPASSWD:ALL\n`, 0o440);
  // Nothing outside: the program's config adds the local repository later.
  write(dir, 'etc/apt/sources.list', '# test host: no Debian mirror; local sources are added by the program\n');
  for (const f of fs.readdirSync(path.join(dir, 'etc/apt/sources.list.d'))) {
    fs.rmSync(path.join(dir, 'etc/apt/sources.list.d', f));
  }
  // debootstrap copied the machine's resolver; the hosts can reach none.
  write(dir, 'etc/resolv.conf', '# test host: no DNS server is reachable; the hosts\' names are in /etc/hosts\n');
  for (const f of fs.readdirSync(path.join(dir, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) {
      fs.rmSync(path.join(dir, 'etc/ssh', f));
    }
  }
  write(
    dir,
    'etc/ssh/sshd_config.d/lab.conf',
    'HostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n',
  );
  write(dir, 'etc/machine-id', '');
  write(dir, 'etc/systemd/system/lab-cgroup-rw.service', CGROUP_RW_UNIT);
  fs.mkdirSync(path.join(dir, 'etc/systemd/system/sysinit.target.wants'), { recursive: true });
  fs.symlinkSync('/etc/systemd/system/lab-cgroup-rw.service', path.join(dir, 'etc/systemd/system/sysinit.target.wants/lab-cgroup-rw.service'));
  write(dir, 'etc/systemd/system/lab-kernel-tunables.service', TUNABLES_UNIT);
  fs.symlinkSync('/etc/systemd/system/lab-kernel-tunables.service', path.join(dir, 'etc/systemd/system/sysinit.target.wants/lab-kernel-tunables.service'));
  // kubelet's OOM watcher opens /dev/kmsg and kubelet exits without it; kind points it at the console.
  write(dir, 'etc/tmpfiles.d/lab-kmsg.conf', 'L /dev/kmsg - - - - /dev/console\n');
  // Journal in memory (a throw-away host), never reading "kmsg" (the console). A persistent journal
  // on the overlay now and then kept journald busy at shutdown for over 10 s.
  write(dir, 'etc/systemd/journald.conf.d/lab.conf', '[Journal]\nStorage=volatile\nReadKMsg=no\nRuntimeMaxUse=32M\n');
  // Timers that would try the network or the machine's disks: an idle host stays idle.
  for (const timer of ['apt-daily.timer', 'apt-daily-upgrade.timer', 'e2scrub_all.timer', 'fstrim.timer']) {
    fs.rmSync(path.join(dir, 'etc/systemd/system/timers.target.wants', timer), { force: true });
    fs.symlinkSync('/dev/null', path.join(dir, 'etc/systemd/system', timer));
  }
  for (const target of BIND_TARGETS) {
    fs.mkdirSync(path.join(dir, target), { recursive: true });
  }
}

/** The cached rootfs for PACKAGES and this recipe, built when missing. */
export async function ensureRootfs(): Promise<Rootfs> {
  const started = Date.now();
  const base = path.join(labCacheDir(), 'rootfs');
  fs.mkdirSync(base, { recursive: true });
  const packagesKey = hash({ suite: SUITE, variant: VARIANT, packages: [...PACKAGES].sort() });
  const bootstrapped = path.join(base, `${SUITE}-${VARIANT}-${packagesKey}.debootstrap`);
  const key = `${packagesKey}-r${RECIPE}`;
  const dir = path.join(base, `${SUITE}-${VARIANT}-${key}`);
  if (exists(path.join(dir, '.lab-rootfs.json'))) {
    return { dir, key, buildSeconds: (Date.now() - started) / 1000, cached: true };
  }
  await cached(bootstrapped, async (tmp) => {
    const mirror = debianMirror();
    const logFile = `${bootstrapped}.log`;
    log(`rootfs: debootstrap ${SUITE} (${VARIANT}, ${PACKAGES.length} packages) from ${mirror}; takes ~80-150 s; log ${logFile}`);
    const r = await exec(tool('debootstrap'), [`--variant=${VARIANT}`, `--include=${PACKAGES.join(',')}`, SUITE, tmp, mirror], 20 * 60_000);
    fs.writeFileSync(logFile, r.stdout + r.stderr);
    if (r.code !== 0) {
      throw new RigError(`debootstrap failed (exit ${r.code}); last lines:\n${(r.stdout + r.stderr).trim().split('\n').slice(-15).join('\n')}`);
    }
    await must(tool('chroot'), [tmp, 'apt-get', 'clean']);
    // The package lists name the mirror; the hosts have no sources, so the lists are dead weight.
    fs.rmSync(path.join(tmp, 'var/lib/apt/lists'), { recursive: true, force: true });
    fs.mkdirSync(path.join(tmp, 'var/lib/apt/lists/partial'), { recursive: true });
    write(tmp, '.lab-rootfs.json', `${JSON.stringify({ suite: SUITE, variant: VARIANT, packages: PACKAGES, mirror, builtAt: new Date().toISOString() }, null, 2)}\n`);
    log(`rootfs: debootstrap done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  });
  await cached(dir, async (tmp) => {
    // A copy, not a second overlay layer: simpler to reason about, and a few seconds per recipe.
    await must('cp', ['-a', '--reflink=auto', bootstrapped, tmp], 600_000);
    await customise(tmp);
    write(tmp, '.lab-rootfs.json', `${JSON.stringify({ suite: SUITE, variant: VARIANT, packages: PACKAGES, recipe: RECIPE, builtAt: new Date().toISOString() }, null, 2)}\n`);
  });
  return { dir, key, buildSeconds: (Date.now() - started) / 1000, cached: false };
}
