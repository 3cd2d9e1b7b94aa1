// Issue 22, host keys: what config takes as a node's SSH host key, the fingerprints messages show (the
// ones ssh-keygen prints), the refusal of a provisioned node without a key, the opt-out's warning, and
// the messages of a key that does not match. No network here: see host-keys-ssh.test.ts.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import {
  CheckedNode,
  fingerprint,
  HostKey,
  hostKeyCheckProblem,
  hostKeyFromBlob,
  insecureHostKeyWarning,
  parseHostKey,
} from "../../config/hostKeys";
import { ConfigError, parseLabConfig, RawConfig } from "../../config/schema";
import { renderHostKeys } from "../../tools/hostKeys";
import { stackConfig } from "./harness";

const NS = "kubeadm-istio-lab";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-host-keys-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A key pair made by ssh-keygen: its .pub line without the comment, and ssh-keygen's own fingerprint. */
interface Generated {
  line: string;
  keygenFingerprint: string;
}
function generate(name: string, args: string[]): Generated {
  const file = path.join(tmp, name);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", `test@${name}`, "-f", file, ...args]);
  const line = fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
  // "256 SHA256:... test@name (ED25519)"
  const keygenFingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], { encoding: "utf8" }).split(" ")[1];
  return { line, keygenFingerprint };
}

const KEYS: Record<string, Generated> = {
  "ssh-ed25519": generate("ed25519", ["-t", "ed25519"]),
  "ecdsa-sha2-nistp256": generate("ecdsa256", ["-t", "ecdsa", "-b", "256"]),
  "ecdsa-sha2-nistp384": generate("ecdsa384", ["-t", "ecdsa", "-b", "384"]),
  "ecdsa-sha2-nistp521": generate("ecdsa521", ["-t", "ecdsa", "-b", "521"]),
  "ssh-rsa": generate("rsa", ["-t", "rsa", "-b", "2048"]),
};
const ed25519 = KEYS["ssh-ed25519"].line;
const other = generate("other", ["-t", "ed25519"]).line;

function key(line: string): HostKey {
  const k = parseHostKey(line);
  if ("error" in k) throw new Error(k.error);
  return k;
}
function errorOf(line: string): string {
  const k = parseHostKey(line);
  return "error" in k ? k.error : "accepted";
}
/** The SSH wire form of a key built by hand: each part length-prefixed. */
function blob(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      const bytes = typeof p === "string" ? Buffer.from(p, "latin1") : p;
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return Buffer.concat([length, bytes]);
    }),
  );
}

describe("a host key as config takes it: `<type> <base64>`, as ssh-keyscan prints it without the host name", () => {
  test.each(Object.keys(KEYS))("a %s key made by ssh-keygen is accepted as written", (type) => {
    const k = key(KEYS[type].line);
    expect(k.type).toBe(type);
    expect(k.text).toBe(KEYS[type].line);
  });

  test("an RSA key written under a signature algorithm's name is the same ssh-rsa key", () => {
    const base64 = KEYS["ssh-rsa"].line.split(" ")[1];
    expect(key(`rsa-sha2-512 ${base64}`).text).toBe(KEYS["ssh-rsa"].line);
    expect(key(`rsa-sha2-256 ${base64}`).text).toBe(KEYS["ssh-rsa"].line);
  });

  test("base64 that does not decode exactly is refused: a stray character, lost padding, a cut key", () => {
    const base64 = ed25519.split(" ")[1];
    expect(errorOf(`ssh-ed25519 ${base64.slice(0, 20)}!${base64.slice(21)}`)).toMatch(/not valid base64 after its type ssh-ed25519/);
    const padded = KEYS["ecdsa-sha2-nistp256"].line.split(" ")[1];
    expect(padded).toMatch(/=$/);
    expect(errorOf(`ecdsa-sha2-nistp256 ${padded.replace(/=+$/, "")}`)).toMatch(/not valid base64/);
    expect(errorOf(`ssh-ed25519 ${base64.slice(0, 40)}`)).toMatch(/not valid base64|not a well-formed ssh-ed25519 key/);
    expect(errorOf(`ssh-ed25519 ${Buffer.from(blob("ssh-ed25519", Buffer.alloc(31))).toString("base64")}`)).toMatch(
      /the key is not a well-formed ssh-ed25519 key; copy it again/,
    );
  });

  test("a type that is not the type inside the key is refused, naming both", () => {
    const base64 = ed25519.split(" ")[1];
    expect(errorOf(`ecdsa-sha2-nistp256 ${base64}`)).toBe(
      "says ecdsa-sha2-nistp256, but the key after it is an ssh-ed25519 key; copy the line again",
    );
    expect(errorOf(`ssh-rsa ${base64}`)).toMatch(/says ssh-rsa, but the key after it is an ssh-ed25519 key/);
    expect(errorOf(`rsa-sha2-256 ${base64}`)).toMatch(/says rsa-sha2-256, but the key after it is an ssh-ed25519 key/);
  });

  test("a line break, a tab or another control character is refused where it is", () => {
    expect(errorOf(`${ed25519}\n`)).toMatch(/holds a line break \(U\+000A\) at character \d+; remove it/);
    expect(errorOf(`${ed25519}\nssh-ed25519 AAAA`)).toMatch(/holds a line break/);
    expect(errorOf(ed25519.replace(" ", "\t"))).toMatch(/holds a tab/);
    expect(errorOf(`${ed25519}\x00`)).toMatch(/holds a control character \(U\+0000\)/);
  });

  test("ssh-keyscan's host name, a comment, two spaces or one word are refused, saying what to write", () => {
    expect(errorOf(`192.0.2.10 ${ed25519}`)).toMatch(/^starts with a host name \("192\.0\.2\.10"\) as ssh-keyscan prints it; write the key type and the base64 key alone/);
    expect(errorOf(`${ed25519} root@nieve`)).toMatch(/^has text after the key \(a comment\?\)/);
    expect(errorOf(ed25519.replace(" ", "  "))).toMatch(/^is not a key type and a base64 key separated by one space/);
    expect(errorOf(` ${ed25519}`)).toMatch(/^is not a key type and a base64 key separated by one space/);
    expect(errorOf(ed25519.split(" ")[1])).toMatch(/^is not a key type and a base64 key/);
  });

  test("types a host key here cannot have: DSA, certificates, security keys, made-up names", () => {
    const base64 = ed25519.split(" ")[1];
    for (const type of ["ssh-dss", "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com", "ed25519"]) {
      expect(errorOf(`${type} ${base64}`)).toMatch(/^has key type ".*"; a host key here is one of ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa/);
    }
  });

  test("well-formed keys only: an ECDSA key on another curve than its type, an RSA key OpenSSH refuses, bytes after the key", () => {
    const point = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]);
    const wrongCurve = blob("ecdsa-sha2-nistp256", "nistp384", point).toString("base64");
    expect(errorOf(`ecdsa-sha2-nistp256 ${wrongCurve}`)).toMatch(/not a well-formed ecdsa-sha2-nistp256 key/);
    const small = blob("ssh-rsa", Buffer.from([1, 0, 1]), Buffer.concat([Buffer.from([0, 0xc0]), Buffer.alloc(63, 7)])).toString("base64");
    expect(errorOf(`ssh-rsa ${small}`)).toMatch(/is an RSA key of 512 bits, which OpenSSH refuses/);
    const trailing = Buffer.concat([blob("ssh-ed25519", Buffer.alloc(32, 9)), Buffer.from([0])]).toString("base64");
    expect(errorOf(`ssh-ed25519 ${trailing}`)).toMatch(/not a well-formed ssh-ed25519 key/);
    expect(hostKeyFromBlob(Buffer.from([0, 0, 0, 9, 1]))).toEqual({ error: "is not an SSH public key (no key type inside)" });
  });
});

describe("fingerprints are the ones OpenSSH prints", () => {
  test.each(Object.keys(KEYS))("%s: SHA256:<base64 without padding>, as ssh-keygen -lf prints it", (type) => {
    const k = key(KEYS[type].line);
    expect(fingerprint(k)).toBe(KEYS[type].keygenFingerprint);
    expect(fingerprint(k.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});

describe("config: nodes[].hostKey and cluster.insecureSkipHostKeyCheck", () => {
  const dev = stackConfig("dev");
  const nodes = dev.nodes as Record<string, unknown>[];
  const base: RawConfig = { ...dev, hasSshPrivateKey: true, hasKubeconfig: false, stack: "dev" };
  const unpinned = nodes.map(({ hostKey: _, ...n }) => n);
  function problems(raw: Partial<RawConfig>, options = {}): string[] {
    try {
      parseLabConfig({ ...base, ...raw }, options);
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  }

  test("the dev stack pins an example key per node, which parses; each node's key reaches the validated config", () => {
    const config = parseLabConfig(base);
    expect(config.nodes.map((n) => n.hostKey)).toEqual(nodes.map((n) => n.hostKey));
    expect(config.nodes.every((n) => Buffer.from(n.hostKey?.split(" ")[1] ?? "", "base64").includes(`EXAMPLE KEY of ${n.name}`))).toBe(true);
    expect(config.cluster.insecureSkipHostKeyCheck).toBe(false);
  });

  test("a bad key is refused naming kubeadm-istio-lab:nodes[i].hostKey and what is wrong", () => {
    const bad = [nodes[0], { ...nodes[1], hostKey: `${other}\nssh-ed25519 AAAA` }, nodes[2]];
    expect(problems({ nodes: bad })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:nodes\[1\]\.hostKey: holds a line break \(U\+000A\) at character \d+; remove it \(got ".*\\n.*"\)$/),
    ]);
    const mismatched = [nodes[0], nodes[1], { ...nodes[2], hostKey: `ssh-rsa ${other.split(" ")[1]}` }];
    expect(problems({ nodes: mismatched })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:nodes\[2\]\.hostKey: says ssh-rsa, but the key after it is an ssh-ed25519 key/),
    ]);
    expect(problems({ nodes: [{ ...nodes[0], hostKey: 42 }, nodes[1], nodes[2]] })).toEqual([
      expect.stringMatching(/^kubeadm-istio-lab:nodes\[0\]\.hostKey: must be the node's SSH host key as ssh-keyscan prints it without the host name/),
    ]);
    expect(problems({ nodes: [{ ...unpinned[0], hostkey: ed25519 }, nodes[1], nodes[2]] })).toEqual([
      "kubeadm-istio-lab:nodes[0].hostkey: unknown key; did you mean hostKey? allowed: name, role, address, port, user, hostKey",
    ]);
  });

  test("a provisioned node without hostKey is refused at preview, naming the key and the command that prints the keys", () => {
    expect(problems({ nodes: [nodes[0], unpinned[1], nodes[2]] })).toEqual([
      "kubeadm-istio-lab:nodes[1].hostKey: required when cluster.provision is true: node sansa's SSH host key as ssh-keyscan prints it " +
        'without the host name ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..."), which every SSH connection to the node checks; ' +
        "`npm run host-keys -- --stack dev` prints the nodes' keys in config form with their SHA256 fingerprints, to compare out of band " +
        "before you paste them (or set kubeadm-istio-lab:cluster.insecureSkipHostKeyCheck: true to accept any host key: insecure)",
    ]);
    expect(problems({ nodes: unpinned }).map((p) => p.slice(0, p.indexOf(":", NS.length + 1)))).toEqual(
      [0, 1, 2].map((i) => `kubeadm-istio-lab:nodes[${i}].hostKey`),
    );
  });

  test("the opt-out accepts nodes without a key and keeps the keys that are given; it is refused without provisioning", () => {
    const config = parseLabConfig({ ...base, cluster: { ...(dev.cluster as object), insecureSkipHostKeyCheck: true }, nodes: [nodes[0], unpinned[1], unpinned[2]] });
    expect(config.cluster.insecureSkipHostKeyCheck).toBe(true);
    expect(config.nodes.map((n) => n.hostKey)).toEqual([nodes[0].hostKey, undefined, undefined]);
    expect(problems({ cluster: { provision: false, kubeconfigPath: "/k", insecureSkipHostKeyCheck: true }, nodes: undefined })).toEqual([
      "kubeadm-istio-lab:cluster.insecureSkipHostKeyCheck: only used with cluster.provision: true (the program connects to no machine otherwise)",
    ]);
    expect(problems({ cluster: { insecureSkipHostKeyCheck: "yes" }, nodes: unpinned })).toEqual([
      'kubeadm-istio-lab:cluster.insecureSkipHostKeyCheck: Invalid input: expected boolean, received string (got "yes")',
    ]);
  });

  test("an RSA key written as rsa-sha2-512 reaches the connection as ssh-rsa", () => {
    const base64 = KEYS["ssh-rsa"].line.split(" ")[1];
    const config = parseLabConfig({ ...base, nodes: [{ ...nodes[0], hostKey: `rsa-sha2-512 ${base64}` }, nodes[1], nodes[2]] });
    expect(config.nodes[0].hostKey).toBe(KEYS["ssh-rsa"].line);
  });

  test("tools that never connect with the config's keys read a stack without them", () => {
    expect(problems({ nodes: unpinned }, { requireHostKeys: false })).toEqual([]);
  });
});

describe("the opt-out's warning, on every preview and up", () => {
  test("names the setting, the nodes left unchecked, the risk and the way out", () => {
    const warning = insecureHostKeyWarning(NS, [{ name: "nieve", hostKey: ed25519 }, { name: "sansa" }, { name: "arya" }], "dev");
    expect(warning).toBe(
      "kubeadm-istio-lab:cluster.insecureSkipHostKeyCheck is true: nodes sansa and arya have no hostKey, so the program's SSH " +
        "connections accept whatever host key answers at their addresses. Whoever answers there (a reused address, a spoofed DNS " +
        "name) runs the provisioning scripts' session as root, receives the cluster's bootstrap token, and can hand back its own " +
        "kubeconfig and CA hash, which the workers and this stack then trust. Pin each node's key in kubeadm-istio-lab:nodes[i].hostKey " +
        "(`npm run host-keys -- --stack dev` prints them with their fingerprints, to check out of band) and remove the setting.",
    );
    expect(insecureHostKeyWarning(NS, [{ name: "nieve" }], "dev")).toMatch(/: node nieve has no hostKey, so/);
  });

  test("with every node pinned it says the setting changes nothing and should go", () => {
    expect(insecureHostKeyWarning(NS, [{ name: "nieve", hostKey: ed25519 }], "dev")).toBe(
      "kubeadm-istio-lab:cluster.insecureSkipHostKeyCheck is true, but every node pins its hostKey, so it changes nothing today; " +
        "a node added without a hostKey would be connected to unchecked. Remove the setting.",
    );
  });
});

describe("a node that presents another key stops up: the messages", () => {
  const node: CheckedNode = { name: "sansa", index: 1, address: "192.0.2.11", port: 22, pinned: key(ed25519) };
  const presented = key(other);

  test("the pinned one presents nothing to report", () => {
    expect(hostKeyCheckProblem(NS, node, { key: key(ed25519).blob }, "dev")).toBeUndefined();
  });

  test("another key of the type: node, address, port, both fingerprints, and what to do", () => {
    expect(hostKeyCheckProblem(NS, node, { key: presented.blob }, "dev")).toBe(
      `node sansa at 192.0.2.11:22 presents a different SSH host key than kubeadm-istio-lab:nodes[1].hostKey: ` +
        `pinned ssh-ed25519 ${fingerprint(key(ed25519))}, presented ssh-ed25519 ${fingerprint(presented)}. ` +
        `Either the machine's host keys changed (reinstalled, keys regenerated) or something else answers at that address. ` +
        `Check the machine's key out of band (on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub); only if it is ` +
        "the machine's, update kubeadm-istio-lab:nodes[1].hostKey (`npm run host-keys -- --stack dev` prints the keys in config form).",
    );
  });

  test("no key of the pinned type at all", () => {
    const pinnedRsa = { ...node, pinned: key(KEYS["ssh-rsa"].line) };
    expect(hostKeyCheckProblem(NS, pinnedRsa, { noKeyOfType: true }, "dev")).toMatch(
      new RegExp(
        `^node sansa at 192\\.0\\.2\\.11:22 presents no ssh-rsa host key, the type of kubeadm-istio-lab:nodes\\[1\\]\\.hostKey ` +
          `\\(pinned ssh-rsa ${fingerprint(pinnedRsa.pinned).replace(/[+/]/g, "\\$&")}\\)\\. .*ssh-keygen -lf /etc/ssh/ssh_host_rsa_key\\.pub`,
      ),
    );
  });

  test("a key that could not be read", () => {
    expect(hostKeyCheckProblem(NS, node, { error: "no SSH key exchange within 5s" }, "dev")).toBe(
      `node sansa at 192.0.2.11:22: its SSH host key could not be read (no SSH key exchange within 5s), so ` +
        `kubeadm-istio-lab:nodes[1].hostKey (ssh-ed25519 ${fingerprint(key(ed25519))}) could not be checked; check that sshd runs there and is the machine's`,
    );
  });

  test("the stack file's example key is named as such, not as a changed machine", () => {
    const example = (stackConfig("dev").nodes as { hostKey: string }[])[1].hostKey;
    const message = hostKeyCheckProblem(NS, { ...node, pinned: key(example) }, { key: presented.blob }, "dev");
    expect(message).toMatch(/The pinned key is the stack file's example, not the machine's: read the machine's key out of band/);
    expect(message).not.toMatch(/Either the machine's host keys changed/);
  });
});

describe("npm run host-keys: the report, in config form", () => {
  const nodeSpec = (name: string, role: "controlPlane" | "worker", address: string, hostKey?: string) =>
    ({ name, role, address, port: 22, user: "debian", ...(hostKey === undefined ? {} : { hostKey }) });
  const now = new Date("2026-01-02T03:04:05Z");

  test("every key's fingerprint as a comment, the nodes to paste with the key to pin, and the pinned key's state", () => {
    const report = renderHostKeys(
      "dev",
      [
        { node: nodeSpec("nieve", "controlPlane", "192.0.2.10", ed25519), keys: [key(ed25519), key(KEYS["ssh-rsa"].line)] },
        { node: { ...nodeSpec("sansa", "worker", "2001:db8::11", other), port: 2222 }, keys: [key(KEYS["ecdsa-sha2-nistp256"].line)] },
        { node: nodeSpec("arya", "worker", "192.0.2.12"), keys: [], failure: "connect ECONNREFUSED 192.0.2.12:22" },
      ],
      now,
    );
    expect(report.ok).toBe(false);
    const lines = report.text.split("\n");
    expect(lines).toContain(`    #   ssh-ed25519          ${fingerprint(key(ed25519))}  (pinned below)`);
    expect(lines).toContain(`    #   ssh-rsa              ${fingerprint(key(KEYS["ssh-rsa"].line))}`);
    expect(lines).toContain("    #   pinned in the stack now: the same key");
    expect(lines).toContain(`    #   pinned in the stack now: another key, ssh-ed25519 ${fingerprint(key(other))}`);
    expect(lines).toContain("    # arya at 192.0.2.12:22: no host key read (connect ECONNREFUSED 192.0.2.12:22); its hostKey is left as configured");
    // What a user pastes parses back to the same nodes, each with the key to pin.
    const pasted = (parse(report.text) as Record<string, unknown>)["kubeadm-istio-lab:nodes"];
    expect(pasted).toEqual([
      { name: "nieve", role: "controlPlane", address: "192.0.2.10", user: "debian", hostKey: ed25519 },
      { name: "sansa", role: "worker", address: "2001:db8::11", port: 2222, user: "debian", hostKey: KEYS["ecdsa-sha2-nistp256"].line },
      { name: "arya", role: "worker", address: "192.0.2.12", user: "debian" },
    ]);
  });
});
