// Issue 22, values are data: whatever a stack's config holds, no value of it is ever run or expanded by
// the shell on a node, and each reaches the files the scripts write (apt's source lists, containerd's
// hosts.toml, kubeadm's config) as exactly the value config accepted.
//
// Configs are generated with hostile text in every free-text field that reaches a node ($(...),
// backquotes, quotes, line breaks, ';', globs, '\'), and with the characters a shell reads as syntax but
// a URL may hold as written (; & ( ) * ? ! ~ = , + @). For each config the schema ACCEPTS:
//   - no value that reaches a node holds a control character, quote, backquote, '$', '\' or space;
//   - every builder of specs/scripts.ts is rendered as the components call it, and every occurrence of
//     every value stands where bash takes it literally (single quotes, a quoted here-document's body, a
//     comment: tests/unit/shell-context.ts), never in a bare word, double quotes, $(...), an unquoted
//     here-document or text that eval, trap or bash -c runs again;
//   - on fewer configs, bash itself: each script parses (bash -n), the apt line it builds is the
//     configured one, and the kubeadm config and hosts.toml files it writes, parsed as YAML and as TOML
//     (Python's tomllib), hold exactly the configured values;
//   - on fewer still, the whole program under Pulumi's mocks: every command it registers passes the same
//     check, so no component builds a script around the builders.
// The checker itself is tried against bash on known constructs, and on the scripts as they were before
// issue 22 (the URL inside double quotes), which it must catch.
//
// Fixed seed, so CI sees the same inputs every time; VALUES_PROPERTY_SEED explores others,
// VALUES_PROPERTY_SCALE multiplies the counts.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as fc from "fast-check";
import { parse, parseAllDocuments } from "yaml";
import { ConfigError, LabConfig, NodeSpec, parseLabConfig, RawConfig } from "../../config/schema";
import * as builders from "../../specs/scripts";
import {
  caCertHashScript,
  containerRuntimeScript,
  drainNodeScript,
  hostPort,
  InitParams,
  initStdin,
  joinedScript,
  joinTokenScript,
  JoinParams,
  joinStdin,
  kubeadmInitConfig,
  kubeadmInitScript,
  kubeadmJoinConfig,
  kubeadmJoinScript,
  kubeadmResetScript,
  NODES_READY_TIMEOUT_SECONDS,
  nodesReadyScript,
  kubePackagesScript,
  prepareHostScript,
  readKubeconfigScript,
  registryHostsToml,
} from "../../specs/scripts";
import { shQuote, tomlString, yamlString } from "../../specs/quote";
import { cniPodsCommand } from "../../specs/cni";
import { encryptionKeyFromPassword } from "../../specs/apiServer";
import { Recorded, resolve, runProgram } from "./harness";
import { exposedOccurrences, shellContexts } from "./shell-context";

jest.setTimeout(300_000);

const SEED = Number(process.env.VALUES_PROPERTY_SEED ?? 20260522);
const SCALE = Number(process.env.VALUES_PROPERTY_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const COUNTS = { configs: runs(600), bash: runs(25), program: runs(10) };

// -------------------------------------------------------------------------------------------------
// Hostile configs

/** Text that must never be run: refused by config, or quoted. */
const HOSTILE = [
  "$(touch /tmp/lab-canary)", "`touch /tmp/lab-canary`", "${IFS}", "$HOME", "'", '"', "\\", "\n", "\r", "\t", " ", "\x7f",
  "\x00", ";reboot;", "&&reboot", "|reboot", "*", "?", "[", "]", "{", "}", "#", "<", ">", "é",
];
/**
 * What a shell reads as syntax but a URL may hold as written: config takes these (a '#' only outside
 * apt URLs), the scripts quote them.
 */
const SHELL_SYNTAX_IN_URLS = [";", "&", "(", ")", "*", "?", "!", "~", "=", ",", "+", "@", "#", ";reboot;", "&&reboot", "(reboot)", "%24(reboot)", "*.deb", "?a=1&b=*"];
const SHELL_SYNTAX = /[;&()*?!~=,+@#]/;

/** `base`, or now and then `base` with hostile text put in somewhere. */
function field(base: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const spoiled = fc
    .tuple(base, fc.nat(), fc.constantFrom(...HOSTILE))
    .map(([b, at, text]) => b.slice(0, at % (b.length + 1)) + text + b.slice(at % (b.length + 1)));
  return fc.oneof({ weight: 14, arbitrary: base }, { weight: 1, arbitrary: spoiled });
}

/** An http(s) URL on `host` whose path holds shell syntax, and now and then hostile text. */
function url(host: string, tail = ""): fc.Arbitrary<string> {
  const segment = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("docker", "debian", "v2", "deb", "k8s") },
    { weight: 3, arbitrary: fc.constantFrom(...SHELL_SYNTAX_IN_URLS) },
    { weight: 1, arbitrary: field(fc.constant("x")) },
  );
  return fc
    .tuple(fc.constantFrom("http", "https"), fc.constantFrom(host, `${host}:8443`), fc.array(segment, { maxLength: 4 }))
    .map(([scheme, h, path]) => `${scheme}://${h}/${path.join("/")}${tail}`);
}

const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 4 });

/** A signing key's fingerprint as config takes it (upper or lower case, gpg's groups of four), now and then spoiled. */
const fingerprint = field(
  fc
    .tuple(fc.stringMatching(/^[0-9A-F]{40}$/), fc.boolean(), fc.boolean())
    .map(([hex, lower, grouped]) => {
      const cased = lower ? hex.toLowerCase() : hex;
      return grouped ? cased.replace(/(.{4})(?!$)/g, "$1 ") : cased;
    }),
);

function node(i: number): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    // ${i}e3 is a number to YAML when not quoted.
    name: field(fc.constantFrom(`n${i}qz`, `n${i}qz-a`, `${i}e3`)),
    role: fc.constant(i === 0 ? "controlPlane" : "worker"),
    address: field(fc.constantFrom(`192.0.2.${10 + i}`, `2001:db8::${10 + i}`, `h${i}qz.lab.example`)),
    user: optional(field(fc.constantFrom("debian", `u${i}qz`, "root"))),
    // Required when provisioning; it reaches the SSH connection only, never a script.
    hostKey: fc.constant(`ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, i)]).toString("base64")}`),
  });
}

/** Drops the keys whose value is undefined, as a stack file without them would. */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

const rawConfig: fc.Arbitrary<RawConfig> = fc
  .record({
    nodes: fc.integer({ min: 1, max: 3 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => node(i)))),
    cluster: fc.record({
      kubernetesVersion: field(fc.constantFrom("1.33", "1.34", "1.35", "1.36")),
      podCidr: field(fc.constantFrom("10.32.0.0/16", "10.244.0.0/16")),
      serviceCidr: field(fc.constantFrom("10.96.0.0/12", "172.20.0.0/16")),
      allowCgroupV1: fc.boolean(),
    }),
    containerd: fc.record({
      aptUrl: optional(url("cqz.example")),
      suite: optional(field(fc.constantFrom("bookworm", "/", "sqz3"))),
      component: optional(field(fc.constantFrom("stable", "cqz4"))),
      keyUrl: optional(url("kqz5.example", "/gpg")),
      keyFingerprint: optional(fingerprint),
      package: optional(field(fc.constantFrom("containerd.io", "pqz6-containerd"))),
    }),
    kubernetes: fc.record({
      aptUrl: optional(url("kqz7.example", "/v{minor}/deb/")),
      keyUrl: optional(url("kqz8.example", "/Release.key")),
      keyFingerprint: optional(fingerprint),
    }),
    imageRepository: optional(field(fc.constantFrom("iqz9.example:5000/k8s", "iqz9.example"))),
    registryMirrors: optional(fc.dictionary(field(fc.constantFrom("rqz1.example", "rqz2.example:5000", "10.213.0.1:5000")), url("mqz.example"), { maxKeys: 2 })),
  })
  .map((r) => ({
    cluster: { provision: true, ...r.cluster },
    nodes: r.nodes.map(defined),
    sources: defined({
      containerd: defined(r.containerd),
      kubernetes: defined(r.kubernetes),
      imageRepository: r.imageRepository,
      registryMirrors: r.registryMirrors,
    }),
    hasSshPrivateKey: true,
    hasKubeconfig: false,
  }));

/** The config, or undefined when config refuses it (any other exception escapes). */
function accepted(raw: RawConfig): LabConfig | undefined {
  try {
    return parseLabConfig(raw);
  } catch (e) {
    if (e instanceof ConfigError) return undefined;
    throw e;
  }
}

// -------------------------------------------------------------------------------------------------
// What reaches the nodes, and what the builders make of it

/** Every value of the config that reaches a node's scripts or files, by its key. */
function scriptValues(c: LabConfig): [string, string][] {
  const { containerd, kubernetes } = c.sources;
  return [
    ...c.nodes.flatMap((n, i): [string, string][] => [[`nodes[${i}].name`, n.name], [`nodes[${i}].address`, n.address]]),
    ["cluster.kubernetesVersion", c.cluster.kubernetesVersion],
    ["cluster.podCidr", c.cluster.podCidr],
    ["cluster.serviceCidr", c.cluster.serviceCidr],
    ["sources.containerd.aptUrl", containerd.url],
    ...(containerd.suite === undefined ? [] : [["sources.containerd.suite", containerd.suite] as [string, string]]),
    ...(containerd.suite === "/" ? [] : [["sources.containerd.component", containerd.component ?? "main"] as [string, string]]),
    ["sources.containerd.keyUrl", containerd.keyUrl],
    ...(containerd.keyFingerprint === undefined ? [] : [["sources.containerd.keyFingerprint", containerd.keyFingerprint] as [string, string]]),
    ["sources.containerd.package", containerd.package],
    ["sources.kubernetes.aptUrl", kubernetes.url],
    ["sources.kubernetes.keyUrl", kubernetes.keyUrl],
    ...(kubernetes.keyFingerprint === undefined ? [] : [["sources.kubernetes.keyFingerprint", kubernetes.keyFingerprint] as [string, string]]),
    ["sources.imageRepository", c.sources.imageRepository],
    ...Object.entries(c.sources.registryMirrors).flatMap(([registry, mirror]): [string, string][] => [
      [`sources.registryMirrors key`, registry],
      [`sources.registryMirrors.${registry}`, mirror],
    ]),
  ];
}

const controlPlaneOf = (c: LabConfig): NodeSpec => c.nodes.find((n) => n.role === "controlPlane") ?? c.nodes[0];
const workersOf = (c: LabConfig): NodeSpec[] => c.nodes.filter((n) => n !== controlPlaneOf(c));

/** What the cluster component passes to kubeadm init. */
function initParams(c: LabConfig): InitParams {
  const cp = controlPlaneOf(c);
  return {
    nodeName: cp.name,
    advertiseAddress: cp.address,
    apiServerPort: c.cluster.apiServerPort,
    podCidr: c.cluster.podCidr,
    serviceCidr: c.cluster.serviceCidr,
    imageRepository: c.sources.imageRepository,
    allowCgroupV1: c.cluster.allowCgroupV1,
    kubeProxyConntrackMaxPerCore: c.cluster.kubeProxyConntrackMaxPerCore,
  };
}

/** What the cluster component passes to a worker's kubeadm join. */
const joinParams = (c: LabConfig, w: NodeSpec): JoinParams => ({
  nodeName: w.name,
  controlPlaneEndpoint: hostPort(controlPlaneOf(c).address, c.cluster.apiServerPort),
  allowCgroupV1: c.cluster.allowCgroupV1,
});

/** Every bash script the program sends for this config, as the components build them. */
function scriptsOf(c: LabConfig): Record<string, string> {
  const { kubernetesVersion, allowCgroupV1 } = c.cluster;
  const scripts: Record<string, string> = {
    prepareHostScript: prepareHostScript({ kubernetesVersion, allowCgroupV1 }),
    kubePackagesScript: kubePackagesScript(kubernetesVersion, c.sources.kubernetes),
    containerRuntimeScript: containerRuntimeScript(c.sources),
    kubeadmInitScript: kubeadmInitScript(initParams(c)),
    readKubeconfigScript: readKubeconfigScript(),
    caCertHashScript: caCertHashScript(),
    kubeadmResetScript: kubeadmResetScript(),
  };
  for (const n of c.nodes) {
    scripts[`nodesReadyScript ${n.name}`] = nodesReadyScript({ nodeNames: [n.name], timeoutSeconds: NODES_READY_TIMEOUT_SECONDS, cniPods: cniPodsCommand(c.cluster.cni) });
  }
  for (const w of workersOf(c)) {
    scripts[`kubeadmJoinScript ${w.name}`] = kubeadmJoinScript(joinParams(c, w));
    scripts[`joinTokenScript ${w.name}`] = joinTokenScript(w.name);
    scripts[`joinedScript ${w.name}`] = joinedScript(w.name);
    scripts[`drainNodeScript ${w.name}`] = drainNodeScript(w.name);
  }
  return scripts;
}

/** The files the scripts write whose text a builder makes: hosts.toml per mirror and kubeadm's configs. */
function filesOf(c: LabConfig): Record<string, string> {
  const files: Record<string, string> = { kubeadmInitConfig: kubeadmInitConfig(initParams(c)) };
  for (const w of workersOf(c)) files[`kubeadmJoinConfig ${w.name}`] = kubeadmJoinConfig(joinParams(c, w));
  for (const [registry, mirror] of Object.entries(c.sources.registryMirrors)) files[`registryHostsToml ${registry}`] = registryHostsToml(registry, mirror);
  return files;
}

/** Builders this test renders; a new one in specs/scripts.ts must be added here (and to the functions above). */
const RENDERED = [
  "prepareHostScript", "kubePackagesScript", "containerRuntimeScript", "kubeadmInitScript", "readKubeconfigScript", "caCertHashScript",
  "kubeadmResetScript", "kubeadmJoinScript", "joinedScript", "drainNodeScript", "kubeadmInitConfig", "kubeadmJoinConfig", "registryHostsToml",
  "nodesReadyScript", "joinTokenScript",
];

/** Where a value stands in a script outside plain data, as readable lines; empty when nowhere. */
function exposures(scripts: Record<string, string>, values: [string, string][]): string[] {
  return Object.entries(scripts).flatMap(([name, text]) => {
    const contexts = shellContexts(text);
    // "/" (a flat repository's suite) is in every path: it is checked where it is used, in the apt line.
    return values
      .filter(([, v]) => v.length > 1)
      .flatMap(([key, value]) => exposedOccurrences(text, contexts, value).map((where) => `${name}: ${key} ${JSON.stringify(value)} at ${where}`));
  });
}

// -------------------------------------------------------------------------------------------------
// bash and Python, run on what the builders make

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-values-as-data-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const BASH = execFileSync("bash", ["-c", "command -v bash"], { encoding: "utf8" }).trim();
/**
 * `bash -c` as a clean shell: Node's stdin is a socket, and a top-level bash -c on a socket (as if run
 * by sshd) reads the machine's bashrc unless told not to.
 */
const BASH_C = ["--norc", "--noprofile", "-c"];
/**
 * A PATH with only what the steps run here need, a kubeadm that prints the config file it is given and
 * an id that says root (so no step re-runs itself under sudo): a value that did escape its quotes would
 * find no real command to run.
 */
const sandboxBin = path.join(tmp, "bin");
fs.mkdirSync(sandboxBin);
for (const tool of ["basename", "cat", "chmod", "grep", "mkdir", "mktemp", "rm", "touch"]) {
  fs.symlinkSync(execFileSync(BASH, ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim(), path.join(sandboxBin, tool));
}
const fake = (name: string, body: string) => fs.writeFileSync(path.join(sandboxBin, name), `#!${BASH}\n${body}\n`, { mode: 0o755 });
fake("kubeadm", 'if [ "$1" = version ]; then echo v1.36.3; exit 0; fi\nif [ "$1" = token ]; then exit 0; fi\ncat "$3"');
fake("stat", "echo cgroup2fs");
fake("id", "echo 0");

function sandboxed(script: string, stdin = "", args: string[] = []): string {
  const marks = fs.mkdtempSync(path.join(tmp, "marks-"));
  // The init step's files (encryption config, audit policy) go under a folder of the test, not /etc.
  const root = fs.mkdtempSync(path.join(tmp, "root-"));
  const r = spawnSync(BASH, [...BASH_C, script, "_", ...args], {
    input: stdin,
    encoding: "utf8",
    env: { PATH: sandboxBin, KUBEADM_ISTIO_LAB_MARKS: marks, KUBEADM_ISTIO_LAB_ROOT: root },
  });
  if (r.status !== 0) throw new Error(`bash failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** The apt line a script writes, as bash builds it on an amd64 machine running bookworm. */
function aptLineFrom(script: string): string {
  const start = script.indexOf("keyring=/etc/apt/keyrings/");
  const block = script.slice(start, script.indexOf('if [ "$(cat "$list"', start));
  return sandboxed(`set -euo pipefail\ndpkg() { echo amd64; }\ncodename=bookworm\n${block}\nprintf '%s' "$repo"`);
}

/** The apt line config asks for. */
function expectedAptLine(name: string, source: LabConfig["sources"]["kubernetes"]): string {
  const tail = source.suite === "/" ? "/" : `${source.suite ?? "bookworm"} ${source.component ?? "main"}`;
  return `deb [arch=amd64 signed-by=/etc/apt/keyrings/${name}.gpg] ${source.url} ${tail}`;
}

/** The hosts.toml files the containerd step writes into `dir`, by registry. */
function hostsTomlFrom(script: string, dir: string): Record<string, string> {
  const block = script.slice(script.indexOf("mkdir -p /etc/containerd/certs.d\n"), script.indexOf("if ! command -v kubeadm"));
  // The folder is the script's only path here: moved under `dir` as an argument, never as text.
  sandboxed(`set -euo pipefail\n${block.replace(/\/etc\/containerd\/certs\.d/g, '"$1"')}`, "", [dir]);
  return Object.fromEntries(fs.readdirSync(dir).map((registry) => [registry, fs.readFileSync(path.join(dir, registry, "hosts.toml"), "utf8")]));
}

/** TOML documents parsed by Python's tomllib, in one process. */
function parseToml(docs: string[]): unknown[] {
  const r = spawnSync("python3", ["-c", "import json, sys, tomllib; print(json.dumps([tomllib.loads(d) for d in json.load(sys.stdin)]))"], {
    input: JSON.stringify(docs),
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`python3 with tomllib (Python 3.11+) is needed to read TOML: ${r.stderr || r.error}`);
  return JSON.parse(r.stdout) as unknown[];
}

// -------------------------------------------------------------------------------------------------

describe("the checker reads scripts as bash does, and catches a value that is not data", () => {
  // Each case holds V where a value goes; bash runs it with V = $(echo R""AN), which prints RAN only
  // when run. The checker must call V plain data exactly when bash printed no RAN.
  const cases: [string, string][] = [
    ["single quotes", "x='V'; printf '%s' \"$x\""],
    ["double quotes", 'x="V"; printf "%s" "$x"'],
    ["a bare word", "printf '%s' V"],
    ["quoted here-document", "cat <<'EOF'\nname: V\nEOF"],
    ["unquoted here-document", "cat <<EOF\nname: V\nEOF"],
    ["quoted here-document inside $(...)", "t=$(cat <<'EOF'\nV\nEOF\n)\nprintf '%s' \"$t\""],
    ["single quotes inside $(...) inside double quotes", "printf '%s' \"$(printf '%s' 'V')\""],
    ["single quotes inside double quotes", "printf '%s' \"it is 'V'\""],
    ["a comment", "true # V"],
    ["eval of single quotes", "eval 'printf %s V'"],
    ["bash -c of single quotes", "bash -c 'printf %s V'"],
    ["trap of single quotes", "trap 'printf %s V' EXIT"],
    ["a quoted here-document fed to bash", "bash <<'EOF'\nprintf %s V\nEOF"],
    ["${x//slot/V}", "x=a; printf '%s' \"${x//a/V}\""],
    ["an array of single-quoted words", "a=('V'); printf '%s' \"${a[*]}\""],
  ];
  test.each(cases)("%s", (_, text) => {
    const value = '$(echo R""AN)';
    const script = text.replace(/V/g, () => value);
    const r = spawnSync(BASH, [...BASH_C, script], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    const ran = `${r.stdout}${r.stderr}`.includes("RAN");
    expect(exposedOccurrences(script, shellContexts(script), value).length > 0).toBe(ran);
  });

  test("a value that ends a quoted here-document early is caught (the rest of the document is code)", () => {
    const script = "cat <<'EOF'\nname: x\nEOF\nrm -rf /tmp/nothing-here\nEOF\n";
    expect(exposedOccurrences(script, shellContexts(script), "x\nEOF\nrm -rf /tmp/nothing-here")).toHaveLength(1);
  });

  test("a line break in a comment is caught (the next line is code)", () => {
    const script = "# kubeadm-istio-lab: drain a\nreboot\n";
    expect(exposedOccurrences(script, shellContexts(script), "a\nreboot")).toHaveLength(1);
  });

  test("what it does not know it refuses, rather than guess", () => {
    expect(() => shellContexts("echo 'open")).toThrow(/unterminated single quote/);
    expect(() => shellContexts("cat <<'EOF'\nno end\n")).toThrow(/not terminated/);
    expect(() => shellContexts('echo "$(date')).toThrow(/unterminated/);
  });

  test("the apt line as it was before issue 22 (the URL inside double quotes) is caught", () => {
    const c = parseLabConfig({
      cluster: { provision: false, kubeconfigPath: "/k" },
      sources: { containerd: { aptUrl: "https://m.example/a;reboot;(x)" } },
      hasSshPrivateKey: false,
      hasKubeconfig: false,
    });
    const now = containerRuntimeScript(c.sources);
    const value: [string, string][] = [["sources.containerd.aptUrl", c.sources.containerd.url]];
    expect(exposures({ now }, value)).toEqual([]);
    // The line as debLine wrote it before: `repo="deb [...] URL $codename stable"`.
    const before = now.replace(/repo_url='[^']*'\n[\s\S]*?\nrepo=".*"/, () => `repo="deb [arch=$(dpkg --print-architecture) signed-by=$keyring] ${c.sources.containerd.url} $codename stable"`);
    expect(before).toContain('signed-by=$keyring] https://m.example/a;reboot;(x) $codename stable"');
    expect(exposures({ before }, value)).toEqual([
      expect.stringMatching(/^before: sources\.containerd\.aptUrl "https:\/\/m\.example\/a;reboot;\(x\)" at line \d+ \(double\): repo="deb/),
    ]);
    const unquoted = now.replace(/repo_url='([^']*)'/, "repo_url=$1");
    expect(exposures({ unquoted }, value)).toEqual([expect.stringMatching(/\(code\): repo_url=https/)]);
  });
});

describe("quoting functions: the literal's value is the input, whatever it holds", () => {
  const text = fc.string({ unit: "binary", maxLength: 40 });

  /** Text a process can be handed: no NUL (bash strings end there), no lone surrogate (UTF-8 has none). */
  const passable = text.map((s) => s.replace(/\0|[\ud800-\udfff]/g, ""));

  test("shQuote, read back by bash", () => {
    const samples = fc.sample(passable, { numRuns: 300, seed: SEED });
    samples.push("", "'", "''", "'\\''", "$(reboot)", "`id`", "a\nb", "\\", "!!", "*");
    const out = execFileSync(BASH, [...BASH_C, `printf '%s\\0' ${samples.map(shQuote).join(" ")}`], { encoding: "utf8" });
    expect(out.split("\0").slice(0, -1)).toEqual(samples);
  });

  test("yamlString, read back by the yaml package (YAML 1.1 line breaks too)", () => {
    fc.assert(fc.property(text, (s) => expect(parse(`v: ${yamlString(s)}\n`, { version: "1.1" })).toEqual({ v: s })), { numRuns: 1000, seed: SEED });
    for (const s of ["\u2028", "\u0085", "\x7f", "a\nb", '"', "\\", "#x", ": y"]) expect(parse(`v: ${yamlString(s)}`, { version: "1.1" })).toEqual({ v: s });
  });

  test("tomlString, read back by Python's tomllib", () => {
    const samples = fc.sample(passable, { numRuns: 300, seed: SEED });
    samples.push("", '"', "\\", "\n", "\x7f", "\x00", "]", "x\" = 1\n[evil]");
    expect(parseToml(samples.map((s) => `v = ${tomlString(s)}\n`))).toEqual(samples.map((v) => ({ v })));
  });
});

describe(`${COUNTS.configs} hostile configs: what config accepts is only ever data on the nodes`, () => {
  const pairs = fc.sample(rawConfig, { numRuns: COUNTS.configs, seed: SEED }).flatMap((raw) => {
    const config = accepted(raw);
    return config === undefined ? [] : [{ raw, config }];
  });
  const acceptedConfigs = pairs.map((p) => p.config);

  test("every builder of specs/scripts.ts is rendered here", () => {
    const exported = Object.keys(builders).filter((n) => /(Script|Config|Toml)$/.test(n));
    expect(exported.sort()).toEqual([...RENDERED].sort());
  });

  test("enough of them are accepted, and the accepted ones hold shell syntax in their URLs", () => {
    expect(acceptedConfigs.length).toBeGreaterThan(COUNTS.configs / 5);
    expect(acceptedConfigs.length).toBeLessThan(COUNTS.configs * 0.9);
    const withSyntax = acceptedConfigs.filter((c) => scriptValues(c).some(([, v]) => SHELL_SYNTAX.test(v)));
    expect(withSyntax.length).toBeGreaterThan(acceptedConfigs.length / 2);
    // Most pin a key of their own (a fingerprint that reaches the scripts as the config wrote it, normalised).
    const pinned = pairs.filter(({ raw }) => JSON.stringify(raw.sources ?? {}).includes("keyFingerprint"));
    expect(pinned.length).toBeGreaterThan(acceptedConfigs.length / 2);
  });

  test("no accepted value that reaches a node holds a control character, quote, backquote, $, \\ or space", () => {
    for (const c of acceptedConfigs) {
      for (const [key, value] of [...scriptValues(c), ...c.nodes.map((n, i): [string, string] => [`nodes[${i}].user`, n.user])]) {
        if (/[\x00-\x20\x7f'"`$\\]/.test(value)) throw new Error(`config accepted ${key} = ${JSON.stringify(value)}`);
      }
    }
  });

  test("every value stands in every script where bash takes it literally, and reaches some script or file", () => {
    for (const c of acceptedConfigs) {
      const scripts = scriptsOf(c);
      const values = scriptValues(c);
      expect(exposures(scripts, values)).toEqual([]);
      const everything = [...Object.values(scripts), ...Object.values(filesOf(c))].join("\n");
      // A worker's address is only where SSH dials.
      const workerAddresses = new Set(workersOf(c).map((w) => w.address));
      for (const [key, value] of values) {
        if (!workerAddresses.has(value) && !everything.includes(value)) throw new Error(`${key} ${JSON.stringify(value)} reaches no script`);
      }
    }
  });

  test("kubeadm's configs, parsed as YAML, hold exactly the configured values", () => {
    for (const c of acceptedConfigs) {
      const p = initParams(c);
      const [init, cluster] = parseAllDocuments(kubeadmInitConfig(p)).map((d) => d.toJS() as Record<string, Record<string, unknown>>);
      expect(init.localAPIEndpoint.advertiseAddress).toBe(p.advertiseAddress);
      expect(init.nodeRegistration.name).toBe(p.nodeName);
      expect(cluster).toMatchObject({
        controlPlaneEndpoint: hostPort(p.advertiseAddress, p.apiServerPort),
        imageRepository: p.imageRepository,
        networking: { podSubnet: p.podCidr, serviceSubnet: p.serviceCidr },
      });
      for (const w of workersOf(c)) {
        const join = parse(kubeadmJoinConfig(joinParams(c, w))) as { discovery: { bootstrapToken: Record<string, unknown> }; nodeRegistration: Record<string, unknown> };
        expect(join.discovery.bootstrapToken.apiServerEndpoint).toBe(joinParams(c, w).controlPlaneEndpoint);
        expect(join.nodeRegistration.name).toBe(w.name);
      }
    }
  });

  describe(`bash itself, on ${COUNTS.bash} of the accepted configs`, () => {
    const sample = () => acceptedConfigs.slice(0, COUNTS.bash);

    test("every script parses (bash -n)", () => {
      for (const [i, c] of sample().entries()) {
        const dir = fs.mkdtempSync(path.join(tmp, `syntax-${i}-`));
        const scripts = Object.values(scriptsOf(c));
        scripts.forEach((text, j) => fs.writeFileSync(path.join(dir, `${j}.sh`), text));
        const out = execFileSync(BASH, [...BASH_C, 'for f in "$1"/*.sh; do bash -n "$f" 2>&1 || echo "in $f"; done', "_", dir], { encoding: "utf8" });
        expect(out).toBe("");
      }
    });

    test("shellcheck finds nothing in the scripts of the first five", () => {
      const dir = fs.mkdtempSync(path.join(tmp, "shellcheck-"));
      const files = sample()
        .slice(0, 5)
        .flatMap((c, i) => Object.values(scriptsOf(c)).map((text, j) => {
          const file = path.join(dir, `${i}-${j}.sh`);
          fs.writeFileSync(file, text);
          return file;
        }));
      const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", ...files], { encoding: "utf8" });
      expect(r.stdout).toBe("");
      expect(r.status).toBe(0);
    });

    // Run only after the checker found every value plain data, and in a PATH of fakes.
    test("the apt lines bash builds are the configured ones", () => {
      for (const c of sample()) {
        const scripts = scriptsOf(c);
        expect(exposures(scripts, scriptValues(c))).toEqual([]);
        expect(aptLineFrom(scripts.containerRuntimeScript)).toBe(expectedAptLine("containerd", c.sources.containerd));
        expect(aptLineFrom(scripts.kubePackagesScript)).toBe(expectedAptLine("kubernetes", c.sources.kubernetes));
      }
    });

    test("the kubeadm configs bash writes hold exactly the configured values", () => {
      const token = "abcdef.0123456789abcdef";
      for (const c of sample()) {
        const scripts = scriptsOf(c);
        expect(exposures(scripts, scriptValues(c))).toEqual([]);
        const p = initParams(c);
        const written = sandboxed(scripts.kubeadmInitScript, initStdin({ token, encryptionKey: encryptionKeyFromPassword("values-as-data") }));
        const [init, cluster] = parseAllDocuments(written).map((d) => d.toJS() as Record<string, Record<string, unknown>>);
        expect(init.localAPIEndpoint.advertiseAddress).toBe(p.advertiseAddress);
        expect(init.nodeRegistration.name).toBe(p.nodeName);
        expect(cluster).toMatchObject({ imageRepository: p.imageRepository, networking: { podSubnet: p.podCidr, serviceSubnet: p.serviceCidr } });
        for (const w of workersOf(c)) {
          const joined = parse(sandboxed(scripts[`kubeadmJoinScript ${w.name}`], joinStdin({ token, caCertHash: `sha256:${"b".repeat(64)}` }))) as {
            discovery: { bootstrapToken: Record<string, unknown> };
            nodeRegistration: Record<string, unknown>;
          };
          expect(joined.discovery.bootstrapToken.apiServerEndpoint).toBe(joinParams(c, w).controlPlaneEndpoint);
          expect(joined.nodeRegistration.name).toBe(w.name);
        }
      }
    });

    test("the hosts.toml files bash writes, read by Python's tomllib, name exactly the configured mirrors", () => {
      const written: { registry: string; mirror: string; text: string }[] = [];
      for (const [i, c] of sample().entries()) {
        const scripts = scriptsOf(c);
        expect(exposures(scripts, scriptValues(c))).toEqual([]);
        const files = hostsTomlFrom(scripts.containerRuntimeScript, fs.mkdtempSync(path.join(tmp, `certs-${i}-`)));
        expect(Object.keys(files).sort()).toEqual(Object.keys(c.sources.registryMirrors).sort());
        for (const [registry, text] of Object.entries(files)) written.push({ registry, mirror: c.sources.registryMirrors[registry], text });
      }
      expect(written.length).toBeGreaterThan(5);
      const parsed = parseToml(written.map((w) => w.text));
      written.forEach((w, i) =>
        expect(parsed[i]).toEqual({
          server: w.registry === "docker.io" ? "https://registry-1.docker.io" : `https://${w.registry}`,
          host: { [w.mirror]: { capabilities: ["pull", "resolve"] } },
        }),
      );
    });
  });

  test(`the whole program under mocks, on ${COUNTS.program} of them: every command it registers holds the values as data`, async () => {
    for (const { raw, config: c } of pairs.slice(0, COUNTS.program)) {
      const recorded: Recorded[] = [];
      await runProgram({ cluster: raw.cluster, nodes: raw.nodes, sources: raw.sources, sshPrivateKey: "test-key" }, { recorded, secretKeys: ["sshPrivateKey"] });
      const commands = recorded.filter((r) => r.type === "command:remote:Command");
      expect(commands.length).toBeGreaterThanOrEqual(3 * c.nodes.length + 3);
      const scripts: Record<string, string> = {};
      for (const command of commands) {
        for (const input of ["create", "update", "delete"]) {
          const text = (await resolve(command.inputs[input])).value;
          if (typeof text === "string") scripts[`${command.name} ${input}`] = text;
        }
      }
      expect(exposures(scripts, scriptValues(c))).toEqual([]);
      // Nothing but the builders' scripts: the components add no shell of their own.
      const built = new Set(Object.values(scriptsOf(c)));
      for (const [name, text] of Object.entries(scripts)) if (!built.has(text)) throw new Error(`${name} is not one of the builders' scripts`);
    }
  });
});
