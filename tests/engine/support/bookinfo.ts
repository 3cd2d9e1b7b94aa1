// What the engine tests that run the local stack's Bookinfo share: its namespace and objects, how to
// read an expected failure, and the recovery step run as a user runs it.
import * as path from "path";
import { REPO_ROOT, run } from "./cluster";
import type { EngineStack } from "./pulumi";

export const NS = "bookinfo";
/** The label on every object the program applies. */
export const MANAGED = "app.kubernetes.io/managed-by=kubeadm-istio-lab";
export const DEPLOYMENTS = ["details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3"];
/** Every kind of object the program applies on the local stack, for `kubectl get`. */
export const KINDS = "namespaces,serviceaccounts,services,deployments,virtualservices.networking.istio.io,destinationrules.networking.istio.io,gateways.networking.istio.io,peerauthentications.security.istio.io";

/** Error text of an Automation API operation that is expected to fail. */
export async function failureOf(operation: Promise<unknown>): Promise<string> {
  return operation.then(
    () => "(it succeeded)",
    (e: unknown) => (e instanceof Error ? e.message : String(e)),
  );
}

/** `npm run recover -- --stack NAME` on the test's stack; its whole output and its `[recover]` lines. */
export async function runRecover(s: EngineStack): Promise<{ stdout: string; said: string[] }> {
  const tsNode = path.join(REPO_ROOT, "node_modules", ".bin", "ts-node");
  const { stdout } = await run(tsNode, ["--transpile-only", path.join(REPO_ROOT, "tools", "recover.ts"), "--stack", s.name], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...s.env },
    timeoutMs: 180_000,
  });
  return { stdout, said: stdout.split("\n").filter((l) => l.startsWith("[recover]")) };
}
