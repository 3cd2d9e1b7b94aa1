// Checks made before any resource is registered: a node or cluster that does not answer is reported
// plainly, in bounded time, instead of surfacing later as a provider timeout halfway through an update.
import * as net from "net";

/** Resolves true when a TCP connection to host:port opens within timeoutMs. */
export function isReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export interface Endpoint {
  /** What to name in the message, e.g. "node sansa" or "the cluster". */
  what: string;
  host: string;
  port: number;
  /** How to fix it, e.g. which config key to check. */
  hint: string;
}

/** The endpoints among `endpoints` that do not answer, each as one readable line. */
export async function unreachable(endpoints: Endpoint[], timeoutMs: number): Promise<string[]> {
  const results = await Promise.all(endpoints.map((e) => isReachable(e.host, e.port, timeoutMs)));
  return endpoints
    .filter((_, i) => !results[i])
    .map((e) => `${e.what} at ${e.host}:${e.port} does not answer (no connection within ${timeoutMs / 1000}s); ${e.hint}`);
}
