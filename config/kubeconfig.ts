// Reading the API server address out of a kubeconfig, to tell the user plainly when it does not answer.
import { parse } from "yaml";

interface NamedCluster { name?: string; cluster?: { server?: string } }
interface NamedContext { name?: string; context?: { cluster?: string } }
interface KubeconfigDoc { "current-context"?: string; contexts?: NamedContext[]; clusters?: NamedCluster[] }

export interface ApiServer {
  server: string;
  host: string;
  port: number;
}

/** The API server of `context` (or the current context), or an error message naming what is missing. */
export function apiServerOf(kubeconfig: string, context?: string): ApiServer | { error: string } {
  let doc: KubeconfigDoc;
  try {
    doc = (parse(kubeconfig) ?? {}) as KubeconfigDoc;
  } catch (e) {
    return { error: `is not valid YAML (${(e as Error).message.split("\n")[0]})` };
  }
  const contextName = context ?? doc["current-context"];
  if (!contextName) return { error: "has no current-context; set cluster.context" };
  const ctx = doc.contexts?.find((c) => c.name === contextName);
  if (!ctx) {
    const known = (doc.contexts ?? []).map((c) => c.name).join(", ") || "none";
    return { error: `has no context ${JSON.stringify(contextName)} (contexts: ${known})` };
  }
  const server = doc.clusters?.find((c) => c.name === ctx.context?.cluster)?.cluster?.server;
  if (!server) return { error: `has no server for the cluster of context ${JSON.stringify(contextName)}` };
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return { error: `has an invalid server URL ${JSON.stringify(server)}` };
  }
  const port = url.port ? Number(url.port) : url.protocol === "http:" ? 80 : 443;
  return { server, host: url.hostname.replace(/^\[|\]$/g, ""), port };
}
