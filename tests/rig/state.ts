// The machine-readable description of a running set of test hosts (tests/rig/hosts.ts writes it to
// <run folder>/hosts.json). Tests and a Pulumi stack read it to reach the hosts; `stop` reads it to
// remove exactly what `start` made.
import * as fs from 'fs';
import * as path from 'path';

export const STATE_FILE = 'hosts.json';
export const STATE_VERSION = 1;

/** One iptables/ip6tables invocation that adds a rule or chain; its undo is derived from it. */
export interface FirewallStep {
  command: 'iptables' | 'ip6tables';
  /** Arguments after `-t filter`, e.g. ["-N", "LAB-HOSTS-FWD"] or ["-I", "FORWARD", "1", ...]. */
  args: string[];
}

export interface HostState {
  name: string;
  address: string;
  port: number;
  user: string;
  /** Network namespace, under /run/netns. */
  netns: string;
  /** The host-side end of the veth pair (the other end is `host0` inside the namespace). */
  hostVeth: string;
  /** Overlay mount point (lowerdir = the cached rootfs). */
  rootDir: string;
  upperDir: string;
  workDir: string;
  /** Host folders bound into the host, keyed by the path inside. */
  binds: Record<string, string>;
  /** One folder per cgroup hierarchy (v1 controllers, name=systemd, unified). */
  cgroups: string[];
  /** The memory controller's folder of this host, if the machine has one. */
  memoryCgroup: string | null;
  machineId: string;
  /** Host key, public half as in known_hosts. */
  hostKey: string;
  logPath: string;
  /** systemd-nspawn's lock file for the root folder, which a killed nspawn leaves behind. */
  nspawnLock: string | null;
  /** systemd-nspawn's pid (null before launch). */
  pid: number | null;
  /** Seconds from launch to the first successful SSH login. */
  bootToSshSeconds: number | null;
  /** Memory charged to the host's cgroup right after boot. */
  memory: { usageMiB: number; rssMiB: number; cacheMiB: number } | null;
}

export interface HostsState {
  version: typeof STATE_VERSION;
  phase: 'starting' | 'running';
  runId: string;
  runDir: string;
  createdAt: string;
  /** Prefix of every name the rig gives a link, namespace, chain or cgroup. */
  prefix: string;
  bridge: { name: string; address: string; prefixLength: number; subnet: string };
  ssh: {
    user: string;
    port: number;
    privateKeyPath: string;
    publicKeyPath: string;
    knownHostsPath: string;
    /** `ssh -F <configPath> <host name>` reaches a host with the right key and known_hosts. */
    configPath: string;
  };
  rootfs: { dir: string; key: string; suite: string; packages: string[]; buildSeconds: number; cached: boolean };
  hosts: HostState[];
  firewall: FirewallStep[];
  /** Parents of the hosts' cgroups (one per hierarchy), removed at stop. */
  cgroupParents: string[];
  /** Things outside the run folder the rig created only because they were missing. */
  created: { netnsDir: boolean; nspawnRunDir: boolean };
}

export function statePath(runDir: string): string {
  return path.join(runDir, STATE_FILE);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads <runDir>/hosts.json; throws naming the file when it is missing or not a rig state. */
export function readHostsState(runDir: string): HostsState {
  const file = statePath(runDir);
  const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!isObject(parsed) || parsed.version !== STATE_VERSION || !Array.isArray(parsed.hosts) || !isObject(parsed.bridge)) {
    throw new Error(`${file} is not a test-host state file (version ${STATE_VERSION})`);
  }
  // Written only by writeHostsState below, from a typed value.
  return parsed as unknown as HostsState;
}

export function writeHostsState(state: HostsState): void {
  const file = statePath(state.runDir);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}
