// The test hosts' local sources (scripts/sources.sh, tests/rig/sources.ts), served on 127.0.0.1 and
// judged by the tools that will consume them: apt in a private root, dpkg-deb, the built kubeadm,
// and the registry's HTTP API. Network rule: every request goes to 127.0.0.1 only.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { exec, freePort } from '../rig/util';
import { SourcesState, startSources, stopSources } from '../rig/sources';

const KUBE_VERSION = 'v1.36.3';
const KUBE_DEB = '1.36.3-1.1';

let state: SourcesState;
let work: string;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'sources-test-'));
  state = await startSources({ dir: path.join(work, 'run'), listen: '127.0.0.1', httpPort: await freePort(), registryPort: await freePort() });
}, 20 * 60_000);

afterAll(async () => {
  if (state !== undefined) {
    await stopSources(state.dir);
  }
  fs.rmSync(work, { recursive: true, force: true });
}, 30_000);

/** apt-get against a private root that knows only the given sources.list lines and an empty system. */
async function privateApt(name: string, lines: string[], args: string[]): Promise<{ code: number; out: string }> {
  const root = path.join(work, `apt-${name}`);
  for (const d of ['lists/partial', 'cache/archives/partial', 'etc/preferences.d', 'etc/apt.conf.d']) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  fs.writeFileSync(path.join(root, 'etc/sources.list'), `${lines.join('\n')}\n`);
  // A bare system but for two Essential packages every Debian host has (kubelet depends on them).
  fs.writeFileSync(path.join(root, 'status'), ['mount', 'util-linux'].map((p) =>
    `Package: ${p}\nStatus: install ok installed\nPriority: required\nEssential: yes\nArchitecture: amd64\nVersion: 2.38.1-5+deb12u3\n`).join('\n'));
  const opts = [
    `-o`, `Dir::Etc::SourceList=${root}/etc/sources.list`, `-o`, `Dir::Etc::SourceParts=${root}/etc/none`,
    `-o`, `Dir::Etc::Parts=${root}/etc/apt.conf.d`, `-o`, `Dir::Etc::PreferencesParts=${root}/etc/preferences.d`,
    `-o`, `Dir::Etc::TrustedParts=${root}/etc/none`, `-o`, `Dir::Etc::Trusted=${root}/etc/none.gpg`,
    `-o`, `Dir::State::Lists=${root}/lists`, `-o`, `Dir::State::status=${root}/status`,
    `-o`, `Dir::Cache=${root}/cache`, `-o`, `Debug::NoLocking=1`, `-o`, `APT::Architecture=amd64`,
    `-o`, `Acquire::Retries=0`, `-o`, `Acquire::http::Timeout=10`, `-o`, `APT::Sandbox::User=root`,
  ];
  const r = await exec('apt-get', [...opts, ...args], 120_000);
  return { code: r.code, out: r.stdout + r.stderr };
}

function debLines(keyring: string): string[] {
  return [
    `deb [arch=amd64 signed-by=${keyring}] ${state.urls.kubernetes} /`,
    `deb [arch=amd64 signed-by=${keyring}] ${state.urls.docker} bookworm stable`,
    `deb [arch=amd64 signed-by=${keyring}] ${state.urls.debian} bookworm main`,
  ];
}

function deb(repo: string, file: string): string {
  return path.join(state.built, repo, file);
}

describe('local sources for the test hosts', () => {
  test('apt accepts the three signed repositories and resolves kubeadm, kubelet, kubectl, cri-tools and containerd.io with their dependencies', async () => {
    const update = await privateApt('ok', debLines(state.keyring), ['update']);
    expect(update.out).not.toMatch(/^(W|E):/m);
    expect(update.code).toBe(0);
    const plan = await privateApt('ok', debLines(state.keyring), ['-s', 'install', '--no-install-recommends',
      `kubeadm=${KUBE_DEB}`, `kubelet=${KUBE_DEB}`, `kubectl=${KUBE_DEB}`, 'cri-tools', 'containerd.io']);
    expect(plan.out).not.toMatch(/^E:/m);
    expect(plan.code).toBe(0);
    const inst = new Map([...plan.out.matchAll(/^Inst (\S+) \((\S+)/gm)].map((m) => [m[1], m[2]]));
    expect(inst.get('kubeadm')).toBe(KUBE_DEB);
    expect(inst.get('kubelet')).toBe(KUBE_DEB);
    expect(inst.get('kubectl')).toBe(KUBE_DEB);
    expect(inst.get('cri-tools')).toBe('1.36.0-1.1');
    expect(inst.get('containerd.io')).toBe('2.2.9-1');
    // Dependencies come from the local repositories too: kubelet's and containerd.io's.
    for (const dep of ['kubernetes-cni', 'iptables', 'runc', 'libseccomp2', 'libc6']) {
      expect(inst.has(dep)).toBe(true);
    }
    // Into the private root's cache (apt-get download would write into the working folder).
    const download = await privateApt('ok', debLines(state.keyring), ['install', '--download-only', '-y', '--no-install-recommends', 'kubeadm']);
    expect(download.code).toBe(0);
    expect(fs.existsSync(path.join(work, 'apt-ok', 'cache', 'archives', `kubeadm_${KUBE_DEB}_amd64.deb`))).toBe(true);
  }, 180_000);

  test('apt refuses the repositories when signed-by names another key', async () => {
    const other = path.join(work, 'empty-keyring.gpg');
    fs.writeFileSync(other, '');
    const update = await privateApt('badkey', debLines(other), ['update']);
    expect(update.out).toMatch(/NO_PUBKEY|not signed|is not signed|signature/i);
    const plan = await privateApt('badkey', debLines(other), ['-s', 'install', 'kubeadm']);
    expect(plan.code).not.toBe(0);
  }, 120_000);

  test('each package has the control fields and files of its pkgs.k8s.io or Docker counterpart', async () => {
    const info = async (file: string): Promise<string> => (await exec('dpkg-deb', ['-I', file])).stdout;
    const files = async (file: string): Promise<string> => (await exec('dpkg-deb', ['-c', file])).stdout;
    const kubeadm = deb('kubernetes', `kubeadm_${KUBE_DEB}_amd64.deb`);
    expect(await info(kubeadm)).toMatch(/^ Package: kubeadm$/m);
    expect(await info(kubeadm)).not.toMatch(/^ Depends:/m);
    expect(await files(kubeadm)).toMatch(/\.\/usr\/bin\/kubeadm$/m);
    expect(await files(kubeadm)).toMatch(/\.\/usr\/lib\/systemd\/system\/kubelet\.service\.d\/10-kubeadm\.conf$/m);

    const kubelet = deb('kubernetes', `kubelet_${KUBE_DEB}_amd64.deb`);
    expect(await info(kubelet)).toMatch(/^ Depends: iptables \(>= 1\.4\.21\), kubernetes-cni \(>= 1\.2\.0\), mount, util-linux$/m);
    expect(await files(kubelet)).toMatch(/\.\/usr\/bin\/kubelet$/m);
    expect(await files(kubelet)).toMatch(/\.\/usr\/lib\/systemd\/system\/kubelet\.service$/m);
    expect(await files(kubelet)).toMatch(/\.\/etc\/kubernetes\/manifests\/$/m);

    expect(await files(deb('kubernetes', `kubectl_${KUBE_DEB}_amd64.deb`))).toMatch(/\.\/usr\/bin\/kubectl$/m);
    expect(await files(deb('kubernetes', 'cri-tools_1.36.0-1.1_amd64.deb'))).toMatch(/\.\/usr\/bin\/crictl$/m);
    const cni = await files(deb('kubernetes', 'kubernetes-cni_1.9.1-1.1_amd64.deb'));
    for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
      expect(cni).toMatch(new RegExp(`\\./opt/cni/bin/${plugin}$`, 'm'));
    }

    const containerd = deb('docker', 'pool/stable/c/containerd.io/containerd.io_2.2.9-1_amd64.deb');
    expect(await info(containerd)).toMatch(/^ Depends: runc \(>= 1\.1\.0\)$/m);
    for (const f of ['usr/bin/containerd', 'usr/bin/containerd-shim-runc-v2', 'usr/bin/ctr', 'usr/lib/systemd/system/containerd.service', 'etc/containerd/config.toml']) {
      expect(await files(containerd)).toMatch(new RegExp(`\\./${f.replace(/\./g, '\\.')}$`, 'm'));
    }
  }, 60_000);

  test(`the kubeadm in the package reports ${KUBE_VERSION}`, async () => {
    const dir = path.join(work, 'kubeadm-deb');
    expect((await exec('dpkg-deb', ['-x', deb('kubernetes', `kubeadm_${KUBE_DEB}_amd64.deb`), dir])).code).toBe(0);
    const r = await exec(path.join(dir, 'usr/bin/kubeadm'), ['version', '-o', 'short']);
    expect(r.stdout.trim()).toBe(KUBE_VERSION);
  }, 60_000);

  test('the registry serves every image kubeadm lists, for linux/amd64, with its program as entrypoint', async () => {
    const listed = await exec(path.join(state.built, 'bin', 'kubeadm'), ['config', 'images', 'list',
      '--kubernetes-version', KUBE_VERSION, '--image-repository', state.urls.registry]);
    expect(listed.code).toBe(0);
    const refs = listed.stdout.trim().split('\n');
    expect(refs).toHaveLength(7);
    const entrypoints: Record<string, string> = {
      'kube-apiserver': '/usr/local/bin/kube-apiserver', 'kube-controller-manager': '/usr/local/bin/kube-controller-manager',
      'kube-scheduler': '/usr/local/bin/kube-scheduler', 'kube-proxy': '/usr/local/bin/kube-proxy',
      etcd: '/usr/local/bin/etcd', coredns: '/coredns', pause: '/pause',
    };
    for (const ref of refs) {
      const m = /^([^/]+)\/([^:]+):(.+)$/.exec(ref);
      expect(m).not.toBeNull();
      if (m === null) continue;
      const [, registry, repo, tag] = m;
      expect(registry).toBe(state.urls.registry);
      const manifest = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        signal: AbortSignal.timeout(10_000),
      });
      expect(`${ref} ${manifest.status}`).toBe(`${ref} 200`);
      const body = (await manifest.json()) as { config: { digest: string }; layers: { digest: string }[] };
      const config = await fetch(`http://${registry}/v2/${repo}/blobs/${body.config.digest}`, { signal: AbortSignal.timeout(10_000) });
      const cf = (await config.json()) as { architecture: string; os: string; config: { Entrypoint: string[] } };
      expect({ ref, architecture: cf.architecture, os: cf.os, entrypoint: cf.config.Entrypoint[0] })
        .toEqual({ ref, architecture: 'amd64', os: 'linux', entrypoint: entrypoints[repo] });
    }
  }, 120_000);

  test("kube-proxy's image carries a working iptables (Debian's, nft backend)", async () => {
    // The same tree the image layer is made from, unpacked again from the mirrored .debs.
    const root = path.join(work, 'iptables');
    for (const f of fs.readdirSync(path.join(state.built, 'debian/pool/main'))) {
      if (!/^(runc|libseccomp2)_/.test(f)) {
        expect((await exec('dpkg-deb', ['-x', path.join(state.built, 'debian/pool/main', f), root])).code).toBe(0);
      }
    }
    fs.symlinkSync('iptables-nft', path.join(root, 'usr/sbin/iptables'));
    // chroot: the tree alone (its own loader and libraries) must run iptables.
    const r = await exec('chroot', [root, '/usr/sbin/iptables', '--version'], 10_000);
    expect(r.stdout).toMatch(/iptables v1\.8\.\d+ \(nf_tables\)/);
  }, 60_000);
});
