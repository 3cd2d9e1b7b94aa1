// Reachability checks and kubeconfig reading, against servers on loopback only.
import * as net from "net";
import { apiServerOf } from "../../config/kubeconfig";
import { isReachable, unreachable } from "../../config/preflight";
import { cidrsOverlap, parseCidr, Cidr } from "../../config/cidr";
import { formatIstioDuration, parseDurationMs } from "../../specs/duration";

describe("reachability", () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test("a listening port answers", async () => {
    expect(await isReachable("127.0.0.1", port, 1000)).toBe(true);
  });

  test("a closed port does not, and the message names the node, address and fix", async () => {
    const lines = await unreachable(
      [
        { what: "node sansa (SSH)", host: "127.0.0.1", port: 1, hint: "check nodes[1].address" },
        { what: "node nieve (SSH)", host: "127.0.0.1", port, hint: "unused" },
      ],
      1000,
    );
    expect(lines).toEqual(["node sansa (SSH) at 127.0.0.1:1 does not answer (no connection within 1s); check nodes[1].address"]);
  });
});

describe("kubeconfig", () => {
  const doc = `apiVersion: v1
current-context: a
contexts:
  - {name: a, context: {cluster: one}}
  - {name: b, context: {cluster: two}}
clusters:
  - {name: one, cluster: {server: "https://127.0.0.1:6443"}}
  - {name: two, cluster: {server: "https://[::1]:8443"}}
`;
  test("the current context's server", () => expect(apiServerOf(doc)).toEqual({ server: "https://127.0.0.1:6443", host: "127.0.0.1", port: 6443 }));
  test("a named context's server, IPv6", () => expect(apiServerOf(doc, "b")).toEqual({ server: "https://[::1]:8443", host: "::1", port: 8443 }));
  test("an unknown context", () => expect(apiServerOf(doc, "c")).toEqual({ error: 'has no context "c" (contexts: a, b)' }));
  test("not YAML", () => expect(apiServerOf("a: [")).toHaveProperty("error", expect.stringMatching(/not valid YAML/)));
});

describe("CIDRs and durations", () => {
  const cidr = (t: string) => parseCidr(t) as Cidr;
  test("overlap", () => {
    expect(cidrsOverlap(cidr("10.0.0.0/16"), cidr("10.0.128.0/17"))).toBe(true);
    expect(cidrsOverlap(cidr("10.0.0.0/16"), cidr("10.96.0.0/12"))).toBe(false);
  });
  test("durations", () => {
    expect(parseDurationMs("250ms")).toBe(250);
    expect(parseDurationMs("2 s")).toBeUndefined();
    expect(formatIstioDuration(2000)).toBe("2s");
    expect(formatIstioDuration(1)).toBe("0.001s");
    expect(formatIstioDuration(90_000)).toBe("90s");
  });
});
