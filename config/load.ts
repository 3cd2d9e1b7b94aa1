// The edge: read Pulumi stack config once, validate it, and hand typed values to the program.
import * as fs from "fs";
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, CONFIG_KEYS, ConfigError, LabConfig, parseLabConfig, rawConfigFrom } from "./schema";

/** How the program reaches its cluster: SSH to the machines it provisions, or an existing kubeconfig. */
export type ClusterAccess =
  | { kind: "ssh"; privateKey: pulumi.Output<string> }
  | { kind: "kubeconfig"; secret: pulumi.Output<string>; text: string };

export interface LoadedConfig {
  config: LabConfig;
  access: ClusterAccess;
}

function expandHome(path: string): string {
  return path.startsWith("~/") ? `${os.homedir()}${path.slice(1)}` : path;
}

function readFile(key: string, path: string, problems: string[]): string | undefined {
  try {
    return fs.readFileSync(expandHome(path), "utf8");
  } catch (e) {
    problems.push(`${CONFIG_NAMESPACE}:${key}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return undefined;
  }
}

/** A structured value as the engine passed it; null (an empty YAML key) stays null for the parser to name. */
function readObject(cfg: pulumi.Config, key: string): unknown {
  const text = cfg.get(key);
  if (text === undefined) return undefined;
  // The engine hands an empty YAML key (`traffic:` with nothing under it) to the program as "".
  if (text === "") return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // A plain string where a map or list is expected: the parser reports it with the key.
    return text;
  }
}

/** Reads and validates the stack's config; throws ConfigError naming every bad key. */
export function loadConfig(): LoadedConfig {
  const cfg = new pulumi.Config(CONFIG_NAMESPACE);
  const sshKeyPath = cfg.get("sshPrivateKeyPath");
  const kubeconfigSecret = cfg.getSecret("kubeconfig");
  // Every key of the namespace, so that a mistyped one ("trafic") is refused rather than ignored.
  const prefix = `${CONFIG_NAMESPACE}:`;
  const keys = Object.keys(pulumi.runtime.allConfig()).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  const values: Record<string, unknown> = {};
  for (const key of keys) values[key] = undefined;
  for (const key of CONFIG_KEYS) {
    if (key === "sshPrivateKey" || key === "kubeconfig" || key === "sshPrivateKeyPath") continue;
    values[key] = readObject(cfg, key);
  }
  const config = parseLabConfig(
    rawConfigFrom(values, {
      hasSshPrivateKey: cfg.getSecret("sshPrivateKey") !== undefined || sshKeyPath !== undefined,
      hasKubeconfig: kubeconfigSecret !== undefined,
      stack: pulumi.getStack(),
    }),
  );

  // parseLabConfig has checked that the key or kubeconfig is configured; here they are read.
  const problems: string[] = [];
  let access: ClusterAccess | undefined;
  if (config.cluster.provision) {
    const fromFile = sshKeyPath === undefined ? undefined : readFile("sshPrivateKeyPath", sshKeyPath, problems);
    const privateKey = fromFile !== undefined ? pulumi.secret(fromFile) : cfg.getSecret("sshPrivateKey");
    if (privateKey) access = { kind: "ssh", privateKey };
  } else {
    const path = config.cluster.kubeconfigPath;
    // Read the secret's text once, without the plain-read warning, only to find the API server address.
    const text = path !== undefined ? readFile("cluster.kubeconfigPath", path, problems) : pulumi.runtime.getConfig(`${CONFIG_NAMESPACE}:kubeconfig`);
    if (text !== undefined) access = { kind: "kubeconfig", secret: path !== undefined ? pulumi.secret(text) : (kubeconfigSecret ?? pulumi.secret(text)), text };
  }
  if (problems.length > 0 || access === undefined) {
    throw new ConfigError(problems.length > 0 ? problems : [`${CONFIG_NAMESPACE}: no SSH key or kubeconfig could be read`]);
  }
  return { config, access };
}
