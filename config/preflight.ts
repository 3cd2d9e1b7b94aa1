// Checks made before any resource is registered: a node or cluster that does not answer, or a node that
// presents another SSH host key than the pinned one, is reported plainly, in bounded time, instead of
// surfacing later as a provider error halfway through an update.
import * as net from "net";
import { CheckedNode, HostKeyType, hostKeyAlgorithms, hostKeyCheckProblem, parseHostKey, Presented } from "./hostKeys";

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

/**
 * The host key a server presents when offered only the algorithms of `type`, read during the key
 * exchange. The verifier always refuses, so the connection ends there: nothing authenticates and no
 * private key is used. Bounded by timeoutMs from the first byte of the TCP connect.
 */
export async function presentedHostKey(host: string, port: number, type: HostKeyType, timeoutMs: number): Promise<Presented> {
  // Loaded only when a node is dialled (an up): it takes about 0.1 s, which every preview would pay.
  const { Client } = await import("ssh2");
  return new Promise((resolve) => {
    const client = new Client();
    let settled = false;
    const done = (result: Presented) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // On a later tick: the verifier's caller is still inside the handshake when the key arrives.
      setImmediate(() => client.destroy());
      resolve(result);
    };
    const timer = setTimeout(() => done({ error: `no SSH key exchange within ${timeoutMs / 1000}s` }), timeoutMs);
    client.on("error", (e: Error) =>
      done(/no matching host key format/.test(e.message) ? { noKeyOfType: true } : { error: e.message }),
    );
    client.on("close", () => done({ error: "the server closed the connection before it presented a host key" }));
    client.connect({
      host,
      port,
      // Never sent: the exchange ends in the verifier, before authentication.
      username: "host-key-check",
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: hostKeyAlgorithms(type) },
      hostVerifier: (key: Buffer) => {
        done({ key: Buffer.from(key) });
        return false;
      },
    });
  });
}

/** One line per node whose presented host key is not its pinned one (nodes without a pin are skipped). */
export async function hostKeyProblems(
  ns: string,
  nodes: { name: string; address: string; port: number; hostKey?: string }[],
  stack: string,
  timeoutMs: number,
): Promise<string[]> {
  const pinned = nodes.flatMap((n, index): CheckedNode[] => {
    if (n.hostKey === undefined) return [];
    const key = parseHostKey(n.hostKey);
    return "error" in key ? [] : [{ name: n.name, index, address: n.address, port: n.port, pinned: key }];
  });
  const presented = await Promise.all(pinned.map((n) => presentedHostKey(n.address, n.port, n.pinned.type, timeoutMs)));
  return pinned.flatMap((n, i) => hostKeyCheckProblem(ns, n, presented[i], stack) ?? []);
}
