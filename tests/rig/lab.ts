// The test hosts made ready for the program the way a user's machines are, and the `hosts` stack's
// config derived from a running rig: each host's apt points at its Debian mirror (here the rig's local
// one, as a real machine points at deb.debian.org), and every source the program downloads from is the
// rig's (tests/rig/sources.ts) on the hosts' bridge.
import { spawn } from 'child_process';
import * as fs from 'fs';

import { sshArgs } from './hosts';
import type { SourcesState } from './sources';
import type { HostState, HostsState } from './state';
import { RigError, RunResult } from './util';

/** Runs a bash script on a host over SSH (stdin: the script, then `input`); never rejects on exit codes. */
export function onHost(state: HostsState, h: HostState, script: string, opts: { sudo?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
  const remote = opts.sudo === true ? ['sudo', '-n', 'bash', '-s'] : ['bash', '-s'];
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...sshArgs(state, h), ...remote], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 255, stdout, stderr });
    });
    child.stdin.end(script);
  });
}

/** Like onHost, but throws naming the host when the script fails. */
export async function mustOnHost(state: HostsState, h: HostState, script: string, opts: { sudo?: boolean; timeoutMs?: number } = {}): Promise<string> {
  const r = await onHost(state, h, script, opts);
  if (r.code !== 0) {
    throw new RigError(`${h.name}: remote script failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-10).join('\n')}`);
  }
  return r.stdout;
}

/**
 * Points each host's apt at the rig's Debian mirror (runc, iptables and their libraries), signed by the
 * sources' key of this run. Idempotent: the same files each time.
 */
export async function useDebianMirror(hosts: HostsState, sources: SourcesState): Promise<void> {
  const key = fs.readFileSync(sources.keyring).toString('base64');
  const script = `set -euo pipefail
install -m 0755 -d /etc/apt/keyrings
base64 -d > /etc/apt/keyrings/lab-debian.gpg <<'KEY'
${key}
KEY
chmod 0644 /etc/apt/keyrings/lab-debian.gpg
echo 'deb [signed-by=/etc/apt/keyrings/lab-debian.gpg] ${sources.urls.debian} bookworm main' > /etc/apt/sources.list
`;
  await Promise.all(hosts.hosts.map((h) => mustOnHost(hosts, h, script, { sudo: true })));
}

/** Istio's charts for the hosts stack: a chart repository the engine reaches (on this machine), and the version. */
export interface HostsIstio {
  chartRepository: string;
  version: string;
}

/**
 * The `hosts` stack's config (keys without the project prefix) for a running rig and its sources; with
 * `istio`, the program installs Istio's charts from that repository and istiod runs in the cluster.
 */
export function hostsStackConfig(hosts: HostsState, sources: SourcesState, istio?: HostsIstio): Record<string, unknown> {
  const registry = sources.urls.registry;
  return {
    cluster: {
      provision: true,
      kubernetesVersion: '1.36',
      podCidr: '10.32.0.0/16',
      serviceCidr: '10.96.0.0/12',
      // This machine mounts cgroup v1, so its containers do too.
      allowCgroupV1: true,
      // Their nf_conntrack_max is this machine's, read-only inside them.
      kubeProxyConntrackMaxPerCore: 0,
      // flannel: its images are built here from Go modules (Weave's module is not served).
      cni: 'flannel',
    },
    // Each host's key as the rig made it (`<type> <base64>`, the .pub file without its comment): pinned,
    // so every connection the program makes checks it.
    nodes: hosts.hosts.map((h, i) => ({ name: h.name, role: i === 0 ? 'controlPlane' : 'worker', address: h.address, port: h.port, user: h.user, hostKey: h.hostKey })),
    sshPrivateKeyPath: hosts.ssh.privateKeyPath,
    sources: {
      // The keys come over plain http from the rig: pinned to the run's signing key.
      containerd: { aptUrl: sources.urls.docker, keyFingerprint: sources.keyFingerprint },
      kubernetes: { aptUrl: sources.urls.kubernetes.replace(/\/v\d+\.\d+\/deb\/$/, '/v{minor}/deb/'), keyFingerprint: sources.keyFingerprint },
      imageRepository: registry,
      registryMirrors: { [registry]: `http://${registry}` },
    },
    // flannel's own flannel-io/flannel image; the CNI plugin is containernetworking/plugins' v0.9.1 build.
    flannel: { registry: `${registry}/flannel-io`, cniPluginVersion: 'v0.9.1' },
    istio: istio === undefined
      ? { install: false, hub: `${registry}/istio`, mtls: 'STRICT' }
      : { install: true, hub: `${registry}/istio`, mtls: 'STRICT', version: istio.version, chartRepository: istio.chartRepository },
    bookinfo: { namespace: 'bookinfo', imageTag: '1.20.3', imageRegistry: `${registry}/istio` },
    traffic: { reviews: { canary: 'v2', weight: 10 } },
  };
}
