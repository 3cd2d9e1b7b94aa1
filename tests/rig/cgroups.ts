// Cgroups of the test hosts: each host in a cgroup of its own in every hierarchy (v1 controllers,
// name=systemd, unified), below the rig's own cgroup, so the host's memory is counted apart and stop
// can find every process the host left.
import * as fs from 'fs';
import * as path from 'path';

import { HostState } from './state';
import { exists } from './util';

export interface Hierarchy {
  mountPoint: string;
  /** The rig's own cgroup in it (from /proc/self/cgroup). */
  ownPath: string;
  isCpuset: boolean;
  isMemory: boolean;
}

export function cgroupHierarchies(): Hierarchy[] {
  const own = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers, p] = line.split(':');
    own.set(controllers === '' ? 'cgroup2' : controllers.split(',').sort().join(','), p);
  }
  const out: Hierarchy[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n')) {
    const [left, right] = line.split(' - ');
    const [fstype, , superOpts] = right.split(' ');
    const fields = left.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    let key: string;
    if (fstype === 'cgroup2') {
      key = 'cgroup2';
    } else if (fstype === 'cgroup') {
      const known = new Set(['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc']);
      key = superOpts.split(',').filter((o) => known.has(o) || o.startsWith('name=')).sort().join(',');
    } else {
      continue;
    }
    const ownPath = own.get(key);
    if (ownPath === undefined || out.some((h) => h.mountPoint === mountPoint)) {
      continue;
    }
    const relative = root !== '/' && ownPath.startsWith(root) ? ownPath.slice(root.length) : ownPath;
    out.push({ mountPoint, ownPath: relative, isCpuset: key.split(',').includes('cpuset'), isMemory: key.split(',').includes('memory') });
  }
  return out;
}

/** mkdir -p, copying cpuset.cpus/mems into each new cpuset level (v1 refuses tasks without them). */
export function makeCgroup(h: Hierarchy, dir: string): void {
  const parts = path.relative(h.mountPoint, dir).split('/');
  let current = h.mountPoint;
  for (const part of parts) {
    const parent = current;
    current = path.join(current, part);
    if (!exists(current)) {
      fs.mkdirSync(current);
      if (h.isCpuset) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          fs.writeFileSync(path.join(current, f), fs.readFileSync(path.join(parent, f), 'utf8'));
        }
      }
    }
  }
}

export function cgroupTreePids(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
      pids.push(...fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number));
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) {
        walk(path.join(d, e.name));
      }
    }
  };
  walk(dir);
  return pids;
}

/** rmdir depth-first (cgroupfs has no rm -r; the files inside go with their folder). */
export function removeCgroupTree(dir: string): void {
  if (!exists(dir)) {
    return;
  }
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      removeCgroupTree(path.join(dir, e.name));
    }
  }
  fs.rmdirSync(dir);
}

export function memoryOf(dir: string | null): HostState['memory'] {
  if (dir === null) {
    return null;
  }
  try {
    const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
    const usage = Number(fs.readFileSync(path.join(dir, 'memory.usage_in_bytes'), 'utf8'));
    const stat = new Map(
      fs.readFileSync(path.join(dir, 'memory.stat'), 'utf8').trim().split('\n').map((l) => {
        const [k, v] = l.split(' ');
        return [k, Number(v)] as const;
      }),
    );
    return { usageMiB: mib(usage), rssMiB: mib(stat.get('total_rss') ?? 0), cacheMiB: mib(stat.get('total_cache') ?? 0) };
  } catch {
    return null;
  }
}
