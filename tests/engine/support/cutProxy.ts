// A TLS proxy in front of the local API server that can cut the line at an exact point: it forwards
// one chosen request, lets the API server act on it, then drops the caller's connection before the
// answer reaches it. That is the blip that strikes after the server acted and before the caller learned
// of it, which a test that stops the API server at some moment hits only by chance. Writes are not
// retried by Kubernetes' Go client, so the caller sees the request fail.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { parse, stringify } from "yaml";

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; "certificate-authority-data"?: string } }[];
  users: { name: string; user: { "client-certificate-data"?: string; "client-key-data"?: string } }[];
  [key: string]: unknown;
}

export interface CutRequest {
  method: string;
  path: string;
}

export interface CutProxy {
  /** A kubeconfig like the cluster's, whose server is this proxy. */
  readonly kubeconfigPath: string;
  /**
   * The next request that `matches` is forwarded and answered by the API server; its caller gets a
   * dropped connection instead. Resolves with the request once the cut happened.
   */
  cutAfter(matches: (r: CutRequest) => boolean): Promise<CutRequest>;
  /** Requests seen so far, as "METHOD path". */
  readonly seen: string[];
  close(): Promise<void>;
}

const b64 = (s: string | undefined, what: string): Buffer => {
  if (s === undefined) throw new Error(`the cluster's kubeconfig has no ${what}`);
  return Buffer.from(s, "base64");
};

export async function startCutProxy(clusterKubeconfigPath: string): Promise<CutProxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-cut-proxy-"));
  const kubeconfig = parse(fs.readFileSync(clusterKubeconfigPath, "utf8")) as Kubeconfig;
  const upstream = new URL(kubeconfig.clusters[0].cluster.server);
  const ca = b64(kubeconfig.clusters[0].cluster["certificate-authority-data"], "certificate-authority-data");
  const clientCert = b64(kubeconfig.users[0].user["client-certificate-data"], "client-certificate-data");
  const clientKey = b64(kubeconfig.users[0].user["client-key-data"], "client-key-data");

  // The proxy's own certificate, self-signed for 127.0.0.1: the proxy kubeconfig trusts it alone.
  const keyFile = path.join(dir, "proxy.key");
  const certFile = path.join(dir, "proxy.crt");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", "/CN=cut-proxy",
    "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE",
  ], { stdio: "ignore" });
  const cert = fs.readFileSync(certFile);

  const seen: string[] = [];
  let armed: { matches: (r: CutRequest) => boolean; done: (r: CutRequest) => void } | undefined;
  const sockets = new Set<net.Socket>();
  const agent = new https.Agent({ ca, cert: clientCert, key: clientKey, keepAlive: true });

  const forward = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const request: CutRequest = { method: req.method ?? "GET", path: req.url ?? "/" };
    seen.push(`${request.method} ${request.path}`);
    const cut = armed !== undefined && armed.matches(request) ? armed : undefined;
    if (cut) armed = undefined;
    const up = https.request(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.path, headers: { ...req.headers, host: upstream.host }, agent },
      (answer) => {
        if (cut) {
          // The API server has acted on it: read its answer to the end, then the caller never sees it.
          answer.resume();
          answer.on("end", () => {
            req.socket.destroy();
            cut.done(request);
          });
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  };

  const server = https.createServer({ key: fs.readFileSync(keyFile), cert }, forward);
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;

  const proxied: Kubeconfig = {
    ...kubeconfig,
    clusters: kubeconfig.clusters.map((c) => ({ ...c, cluster: { server: `https://127.0.0.1:${port}`, "certificate-authority-data": cert.toString("base64") } })),
  };
  const kubeconfigPath = path.join(dir, "kubeconfig");
  fs.writeFileSync(kubeconfigPath, stringify(proxied), { mode: 0o600 });

  return {
    kubeconfigPath,
    cutAfter: (matches) => new Promise<CutRequest>((done) => (armed = { matches, done })),
    seen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
