// The edge: read Pulumi stack config once, validate it, and hand typed values to the program.
import * as fs from "fs";
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigError, LabConfig, parseLabConfig } from "./schema";

export interface LoadedConfig {
  config: LabConfig;
  /** SSH private key for the nodes (secret); present whenever nodes are provisioned. */
  sshPrivateKey?: pulumi.Output<string>;
  /** Existing cluster: its kubeconfig (secret) and the same text for the reachability check. */
  kubeconfig?: { secret: pulumi.Output<string>; text: string };
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

/** Reads and validates the stack's config; throws ConfigError naming every bad key. */
export function loadConfig(): LoadedConfig {
  const cfg = new pulumi.Config(CONFIG_NAMESPACE);
  const sshKeyPath = cfg.get("sshPrivateKeyPath");
  const kubeconfigSecret = cfg.getSecret("kubeconfig");
  const config = parseLabConfig({
    cluster: cfg.getObject<unknown>("cluster"),
    nodes: cfg.getObject<unknown>("nodes"),
    istio: cfg.getObject<unknown>("istio"),
    bookinfo: cfg.getObject<unknown>("bookinfo"),
    weave: cfg.getObject<unknown>("weave"),
    traffic: cfg.getObject<unknown>("traffic"),
    hasSshPrivateKey: cfg.getSecret("sshPrivateKey") !== undefined || sshKeyPath !== undefined,
    hasKubeconfig: kubeconfigSecret !== undefined,
  });

  const problems: string[] = [];
  const loaded: LoadedConfig = { config };
  if (config.cluster.provision) {
    const fromFile = sshKeyPath === undefined ? undefined : readFile("sshPrivateKeyPath", sshKeyPath, problems);
    loaded.sshPrivateKey = fromFile !== undefined ? pulumi.secret(fromFile) : cfg.getSecret("sshPrivateKey");
  } else {
    const path = config.cluster.kubeconfigPath;
    // Read the secret's text once, without the plain-read warning, only to find the API server address.
    const text = path !== undefined ? readFile("cluster.kubeconfigPath", path, problems) : pulumi.runtime.getConfig(`${CONFIG_NAMESPACE}:kubeconfig`);
    if (text !== undefined) {
      loaded.kubeconfig = { secret: path !== undefined ? pulumi.secret(text) : (kubeconfigSecret ?? pulumi.secret(text)), text };
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded;
}
