// SSH host keys: the form config takes (a line of `ssh-keyscan` without the host name), the SHA256
// fingerprint OpenSSH shows for a key, and the messages of the checks that use them. Pure: the dial
// that reads the key a node presents is config/preflight.ts's.
import { createHash } from "crypto";
import { controlCharacterProblem } from "./safe-strings";

/** Key types a node's sshd may present; each is also the type string inside its key. */
export const HOST_KEY_TYPES = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** RSA's signature algorithms, which some tools print in place of the key type of an ssh-rsa key. */
const RSA_SIGNATURE_NAMES = ["rsa-sha2-256", "rsa-sha2-512"];

/** A host key as validated: its type, the key itself (SSH wire form) and the line connections take. */
export interface HostKey {
  type: HostKeyType;
  blob: Buffer;
  /** `<type> <base64>`, the authorized_keys form the command provider parses. */
  text: string;
}

export const EXAMPLE_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...";

function isHostKeyType(t: string): t is HostKeyType {
  return (HOST_KEY_TYPES as readonly string[]).includes(t);
}

/** Reads the length-prefixed strings of an SSH key blob (RFC 4251 section 5). */
class BlobReader {
  private at = 0;
  constructor(private readonly blob: Buffer) {}
  string(): Buffer | undefined {
    if (this.at + 4 > this.blob.length) return undefined;
    const length = this.blob.readUInt32BE(this.at);
    if (this.at + 4 + length > this.blob.length) return undefined;
    const value = this.blob.subarray(this.at + 4, this.at + 4 + length);
    this.at += 4 + length;
    return value;
  }
  get done(): boolean {
    return this.at === this.blob.length;
  }
}

/** ECDSA curves by key type: the curve name inside the key and the byte length of one coordinate. */
const ECDSA_CURVES: Record<string, { curve: string; coordinate: number }> = {
  "ecdsa-sha2-nistp256": { curve: "nistp256", coordinate: 32 },
  "ecdsa-sha2-nistp384": { curve: "nistp384", coordinate: 48 },
  "ecdsa-sha2-nistp521": { curve: "nistp521", coordinate: 66 },
};

/** Bits of an mpint's magnitude; undefined when it is not a positive mpint. */
function positiveBits(mpint: Buffer): number | undefined {
  if (mpint.length === 0 || (mpint[0] & 0x80) !== 0) return undefined;
  const first = mpint.findIndex((b) => b !== 0);
  if (first < 0) return undefined;
  return (mpint.length - first - 1) * 8 + (32 - Math.clz32(mpint[first]));
}

/** A host key from its SSH wire form (what a server presents), or why it is not one this program takes. */
export function hostKeyFromBlob(blob: Buffer): HostKey | { error: string } {
  const reader = new BlobReader(blob);
  const typeBytes = reader.string();
  const type = typeBytes?.toString("latin1");
  if (type === undefined) return { error: "is not an SSH public key (no key type inside)" };
  if (!isHostKeyType(type)) return { error: `holds a key of type ${JSON.stringify(type)}, which is not one of ${HOST_KEY_TYPES.join(", ")}` };
  const malformed = { error: `is not a well-formed ${type} key; copy it again` };
  if (type === "ssh-ed25519") {
    if (reader.string()?.length !== 32) return malformed;
  } else if (type === "ssh-rsa") {
    const exponent = reader.string();
    const modulus = reader.string();
    if (exponent === undefined || modulus === undefined || positiveBits(exponent) === undefined) return malformed;
    const bits = positiveBits(modulus);
    if (bits === undefined) return malformed;
    // OpenSSH refuses RSA keys under 1024 bits.
    if (bits < 1024) return { error: `is an RSA key of ${bits} bits, which OpenSSH refuses (1024 at least); pin the node's ssh-ed25519 key` };
  } else {
    const { curve, coordinate } = ECDSA_CURVES[type];
    if (reader.string()?.toString("latin1") !== curve) return malformed;
    const point = reader.string();
    // An uncompressed point, as OpenSSH writes it.
    if (point === undefined || point.length !== 1 + 2 * coordinate || point[0] !== 0x04) return malformed;
  }
  if (!reader.done) return malformed;
  return { type, blob, text: `${type} ${blob.toString("base64")}` };
}

/**
 * A host key as config takes it, `<type> <base64>` as ssh-keyscan prints it without the host name, or
 * why `text` is not one. The base64 must decode exactly, and the type inside the key must be the type
 * written (an RSA key also under the name of one of its signature algorithms; it is passed on as ssh-rsa).
 */
export function parseHostKey(text: string): HostKey | { error: string } {
  const control = controlCharacterProblem(text);
  if (control) return { error: control };
  const words = text.trim().split(/ +/);
  const known = (w: string | undefined) => w !== undefined && (isHostKeyType(w) || RSA_SIGNATURE_NAMES.includes(w));
  const form = `write the key type and the base64 key alone, separated by one space (e.g. "${EXAMPLE_HOST_KEY}")`;
  if (words.length > 2 && !known(words[0]) && known(words[1])) {
    return { error: `starts with a host name (${JSON.stringify(words[0])}) as ssh-keyscan prints it; ${form}` };
  }
  if (words.length > 2 && known(words[0])) return { error: `has text after the key (a comment?); ${form}` };
  if (words.length !== 2 || words.join(" ") !== text) return { error: `is not a key type and a base64 key separated by one space; ${form}` };
  const [written, base64] = words;
  if (!known(written)) {
    return {
      error:
        `has key type ${JSON.stringify(written)}; a host key here is one of ${HOST_KEY_TYPES.join(", ")} ` +
        `(certificates and DSA keys are not taken: pin the node's plain ssh-ed25519 key)`,
    };
  }
  // Node's decoder skips what is not base64; only text that it writes back the same way is taken.
  const blob = Buffer.from(base64, "base64");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || blob.length === 0 || blob.toString("base64") !== base64) {
    return { error: `has a key that is not valid base64 after its type ${written}; copy the line again` };
  }
  const key = hostKeyFromBlob(blob);
  if ("error" in key) return { error: `after its type ${written}: the key ${key.error}` };
  const matches = written === key.type || (key.type === "ssh-rsa" && RSA_SIGNATURE_NAMES.includes(written));
  if (!matches) return { error: `says ${written}, but the key after it is an ${key.type} key; copy the line again` };
  return key;
}

/** Why `text` is not a host key config takes, or undefined. */
export function hostKeyProblem(text: string): string | undefined {
  const key = parseHostKey(text);
  return "error" in key ? key.error : undefined;
}

/** The fingerprint OpenSSH prints for a key (ssh-keygen -l, ssh's prompts): SHA256, base64 without padding. */
export function fingerprint(key: HostKey | Buffer): string {
  const blob = Buffer.isBuffer(key) ? key : key.blob;
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** `ssh-ed25519 SHA256:...`: a key as messages name it. */
export function describeHostKey(key: HostKey): string {
  return `${key.type} ${fingerprint(key)}`;
}

/**
 * Host key algorithms to offer in a handshake so that a server with several host keys presents the one
 * of this type (RSA's key signs with any of three algorithms).
 */
export function hostKeyAlgorithms(type: HostKeyType): (HostKeyType | "rsa-sha2-512" | "rsa-sha2-256")[] {
  return type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
}

/** Where Debian's sshd keeps the public half of its key of this type: what to read on the machine's console. */
export function hostKeyFile(type: HostKeyType): string {
  const name = type === "ssh-ed25519" ? "ed25519" : type === "ssh-rsa" ? "rsa" : "ecdsa";
  return `/etc/ssh/ssh_host_${name}_key.pub`;
}

// ---------------------------------------------------------------------------------------------
// Messages. `ns` is the config namespace ("kubeadm-istio-lab"); `stack` the stack's name, for the command.

/** The command that prints the configured nodes' keys in config form. */
export function hostKeysCommand(stack: string | undefined): string {
  return `npm run host-keys -- --stack ${stack ?? "STACK"}`;
}

/** The config key that opts a stack out of pinning, relative to the namespace. */
export const INSECURE_SKIP_KEY = "cluster.insecureSkipHostKeyCheck";

/** A provisioned node without `hostKey`, on a stack that has not opted out. */
export function missingHostKeyProblem(ns: string, index: number, node: string, stack: string | undefined): string {
  return (
    `${ns}:nodes[${index}].hostKey: required when cluster.provision is true: node ${node}'s SSH host key as ssh-keyscan prints it ` +
    `without the host name ("${EXAMPLE_HOST_KEY}"), which every SSH connection to the node checks; ` +
    `\`${hostKeysCommand(stack)}\` prints the nodes' keys in config form with their SHA256 fingerprints, to compare out of band ` +
    `before you paste them (or set ${ns}:${INSECURE_SKIP_KEY}: true to accept any host key: insecure)`
  );
}

/** The warning of every preview and up of a stack that opted out; undefined when it did not. */
export function insecureHostKeyWarning(ns: string, nodes: { name: string; hostKey?: string }[], stack: string | undefined): string {
  const unpinned = nodes.filter((n) => n.hostKey === undefined).map((n) => n.name);
  if (unpinned.length === 0) {
    return (
      `${ns}:${INSECURE_SKIP_KEY} is true, but every node pins its hostKey, so it changes nothing today; ` +
      `a node added without a hostKey would be connected to unchecked. Remove the setting.`
    );
  }
  const list = unpinned.length === 1 ? `node ${unpinned[0]} has` : `nodes ${unpinned.slice(0, -1).join(", ")} and ${unpinned[unpinned.length - 1]} have`;
  return (
    `${ns}:${INSECURE_SKIP_KEY} is true: ${list} no hostKey, so the program's SSH connections accept whatever host key answers ` +
    `at their addresses. Whoever answers there (a reused address, a spoofed DNS name) runs the provisioning scripts' session ` +
    `as root, receives the cluster's bootstrap token, and can hand back its own kubeconfig and CA hash, which the workers and ` +
    `this stack then trust. Pin each node's key in ${ns}:nodes[i].hostKey (\`${hostKeysCommand(stack)}\` prints them with ` +
    `their fingerprints, to check out of band) and remove the setting.`
  );
}

/** A node as the host key check names it. */
export interface CheckedNode {
  name: string;
  index: number;
  address: string;
  port: number;
  pinned: HostKey;
}

/** The stack files' example keys: ed25519 keys whose bytes read "EXAMPLE KEY of <node>: replace it". */
export function isExampleHostKey(key: HostKey): boolean {
  // After the type string (4 + 11 bytes) and the key's length (4).
  return key.type === "ssh-ed25519" && key.blob.subarray(19).toString("latin1").startsWith("EXAMPLE KEY of ");
}

function whatToDo(ns: string, node: CheckedNode, stack: string | undefined, type: HostKeyType): string {
  if (isExampleHostKey(node.pinned)) {
    return (
      `The pinned key is the stack file's example, not the machine's: read the machine's key out of band (on its console: ` +
      `ssh-keygen -lf ${hostKeyFile(type)}), compare it with \`${hostKeysCommand(stack)}\`, and put it in ${ns}:nodes[${node.index}].hostKey.`
    );
  }
  return (
    `Either the machine's host keys changed (reinstalled, keys regenerated) or something else answers at that address. ` +
    `Check the machine's key out of band (on its console: ssh-keygen -lf ${hostKeyFile(type)}); only if it is the machine's, ` +
    `update ${ns}:nodes[${node.index}].hostKey (\`${hostKeysCommand(stack)}\` prints the keys in config form).`
  );
}

/** The node presents another key of the pinned type. */
export function hostKeyMismatchMessage(ns: string, node: CheckedNode, presented: HostKey, stack: string | undefined): string {
  return (
    `node ${node.name} at ${node.address}:${node.port} presents a different SSH host key than ${ns}:nodes[${node.index}].hostKey: ` +
    `pinned ${describeHostKey(node.pinned)}, presented ${describeHostKey(presented)}. ${whatToDo(ns, node, stack, presented.type)}`
  );
}

/** The node has no host key of the pinned type at all. */
export function hostKeyTypeMissingMessage(ns: string, node: CheckedNode, stack: string | undefined): string {
  return (
    `node ${node.name} at ${node.address}:${node.port} presents no ${node.pinned.type} host key, the type of ` +
    `${ns}:nodes[${node.index}].hostKey (pinned ${describeHostKey(node.pinned)}). ${whatToDo(ns, node, stack, node.pinned.type)}`
  );
}

/** The node answered on its port, but no host key could be read from it. */
export function hostKeyUnreadMessage(ns: string, node: CheckedNode, reason: string): string {
  return (
    `node ${node.name} at ${node.address}:${node.port}: its SSH host key could not be read (${reason}), so ` +
    `${ns}:nodes[${node.index}].hostKey (${describeHostKey(node.pinned)}) could not be checked; check that sshd runs there ` +
    `and is the machine's`
  );
}

/** What reading a node's host key found. */
export type Presented = { key: Buffer } | { noKeyOfType: true } | { error: string };

/** The problem with a node's presented key, or undefined when it is the pinned one. */
export function hostKeyCheckProblem(ns: string, node: CheckedNode, presented: Presented, stack: string | undefined): string | undefined {
  if ("noKeyOfType" in presented) return hostKeyTypeMissingMessage(ns, node, stack);
  if ("error" in presented) return hostKeyUnreadMessage(ns, node, presented.error);
  if (presented.key.equals(node.pinned.blob)) return undefined;
  const key = hostKeyFromBlob(presented.key);
  if ("error" in key) return hostKeyUnreadMessage(ns, node, `the key it presents ${key.error}`);
  return hostKeyMismatchMessage(ns, node, key, stack);
}
