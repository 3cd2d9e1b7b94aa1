// Prints the SSH host keys a stack's nodes present now, each with its SHA256 fingerprint, as the config
// lines to paste under `config:` once each fingerprint was compared with the machine's own, read out of
// band. It dials only the nodes' configured addresses and ports, once per key type, and never
// authenticates (config/preflight.ts: the exchange ends when the key arrives).
//   npm run host-keys -- --stack dev
import * as path from "path";
import { CONFIG_NAMESPACE, LabConfig, NodeSpec } from "../config/schema";
import { describeHostKey, fingerprint, HOST_KEY_TYPES, HostKey, hostKeyFile, hostKeyFromBlob, isExampleHostKey, parseHostKey } from "../config/hostKeys";
import { presentedHostKey } from "../config/preflight";
import { readStackConfig, stackArg } from "./stackConfig";
import { runTool, UsageError } from "./cli";

/** What one node presented: a key per type it has, or why none could be read. */
export interface NodeKeys {
  node: NodeSpec;
  keys: HostKey[];
  failure?: string;
}

/** Reads every key type from each node, all nodes at once. */
export async function scanNodes(nodes: NodeSpec[], timeoutMs: number): Promise<NodeKeys[]> {
  return Promise.all(
    nodes.map(async (node) => {
      const results = await Promise.all(HOST_KEY_TYPES.map((type) => presentedHostKey(node.address, node.port, type, timeoutMs)));
      const keys: HostKey[] = [];
      const errors: string[] = [];
      for (const r of results) {
        if ("key" in r) {
          const key = hostKeyFromBlob(r.key);
          if ("error" in key) errors.push(`the key it presents ${key.error}`);
          else keys.push(key);
        } else if ("error" in r) errors.push(r.error);
      }
      if (keys.length > 0) return { node, keys };
      return { node, keys, failure: errors[0] ?? `it presents none of the key types ${HOST_KEY_TYPES.join(", ")}` };
    }),
  );
}

/** A YAML flow scalar: plain when it is a simple word, else double-quoted (JSON's quoting is YAML's too). */
function scalar(value: string): string {
  return /^[A-Za-z0-9._-]+$/.test(value) ? value : JSON.stringify(value);
}

/** The key to pin: the one pinned now if the node still presents it, else the first by HOST_KEY_TYPES. */
function keyToPin(found: NodeKeys): HostKey | undefined {
  return found.keys.find((k) => k.text === found.node.hostKey) ?? found.keys[0];
}

/** The report: comments with every key's fingerprint, then the nodes with their keys, in config form. */
export function renderHostKeys(stack: string, scanned: NodeKeys[], now: Date): { text: string; ok: boolean } {
  const lines = [
    `# SSH host keys the nodes of stack ${stack} present now (${now.toISOString()}), with their SHA256 fingerprints.`,
    `# Compare each with the machine's own, read out of band (on its console: ssh-keygen -lf ${hostKeyFile("ssh-ed25519")}),`,
    `# then paste these lines under config: in Pulumi.${stack}.yaml, in place of ${CONFIG_NAMESPACE}:nodes.`,
    `  ${CONFIG_NAMESPACE}:nodes:`,
  ];
  const width = Math.max(...HOST_KEY_TYPES.map((t) => t.length));
  for (const found of scanned) {
    const { node } = found;
    const pin = keyToPin(found);
    const pinnedNow = node.hostKey === undefined ? undefined : parseHostKey(node.hostKey);
    if (pin === undefined) {
      lines.push(`    # ${node.name} at ${node.address}:${node.port}: no host key read (${found.failure ?? "no answer"}); its hostKey is left as configured`);
    } else {
      lines.push(`    # ${node.name} at ${node.address}:${node.port} presents:`);
      for (const key of found.keys) lines.push(`    #   ${key.type.padEnd(width)}  ${fingerprint(key)}${key === pin ? "  (pinned below)" : ""}`);
      if (pinnedNow !== undefined && !("error" in pinnedNow)) {
        lines.push(
          `    #   pinned in the stack now: ${pinnedNow.text === pin.text ? "the same key" : `another key, ${describeHostKey(pinnedNow)}${isExampleHostKey(pinnedNow) ? " (the stack file's example)" : ""}`}`,
        );
      }
    }
    const hostKey = pin?.text ?? node.hostKey;
    const fields = [
      `name: ${scalar(node.name)}`,
      `role: ${node.role}`,
      `address: ${scalar(node.address)}`,
      ...(node.port === 22 ? [] : [`port: ${node.port}`]),
      `user: ${scalar(node.user)}`,
      ...(hostKey === undefined ? [] : [`hostKey: ${JSON.stringify(hostKey)}`]),
    ];
    lines.push(`    - { ${fields.join(", ")} }`);
  }
  return { text: `${lines.join("\n")}\n`, ok: scanned.every((s) => s.failure === undefined) };
}

/** The report for a stack's config; fails on a stack that provisions no machines. */
export async function hostKeysReport(stack: string, config: LabConfig, now = new Date()): Promise<{ text: string; ok: boolean }> {
  if (!config.cluster.provision || config.nodes.length === 0) {
    throw new UsageError(`stack ${stack} provisions no machines (cluster.provision: false or no nodes): there are no host keys to read`);
  }
  const scanned = await scanNodes(config.nodes, config.cluster.reachabilityTimeoutSeconds * 1000);
  return renderHostKeys(stack, scanned, now);
}

if (require.main === module) {
  runTool("host-keys", async () => {
    const stack = stackArg(process.argv) ?? "dev";
    const report = await hostKeysReport(stack, readStackConfig(path.resolve(__dirname, ".."), stack));
    process.stdout.write(report.text);
    if (!report.ok) {
      process.stderr.write("host-keys: some nodes presented no host key (see the comments above); their hostKey is left as configured\n");
      return 1;
    }
    return 0;
  });
}
