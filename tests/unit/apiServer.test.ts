// Issue 22, the cluster: the API server's audit policy and encryption config as data (specs/apiServer.ts).
// The policy is judged the way the API server applies it: the first rule that matches a request sets
// its level.
import { parseAllDocuments } from "yaml";
import {
  AuditLevel,
  auditPolicy,
  AuditRule,
  ENCRYPTION_KEY_PATTERN,
  encryptionConfiguration,
  encryptionKeyFromPassword,
  toYaml,
} from "../../specs/apiServer";

/** A request as the audit policy sees it: a resource request (group, resource) or a path outside the API. */
type Request = { verb: string; group: string; resource: string } | { verb: string; path: string };

function matches(rule: AuditRule, request: Request): boolean {
  if ("path" in request) {
    if (rule.resources !== undefined) return false;
    if (rule.nonResourceURLs === undefined) return true;
    return rule.nonResourceURLs.some((u) => (u.endsWith("*") ? request.path.startsWith(u.slice(0, -1)) : request.path === u));
  }
  if (rule.nonResourceURLs !== undefined) return false;
  if (rule.resources === undefined) return true;
  return rule.resources.some((g) => g.group === request.group && g.resources.includes(request.resource));
}

/** The level the API server logs a request at: the first matching rule's, None when none matches. */
function levelOf(request: Request): AuditLevel {
  return auditPolicy().rules.find((r) => matches(r, request))?.level ?? "None";
}

describe("the audit policy: who did what, never a body", () => {
  test.each([
    ["a Secret created", { verb: "create", group: "", resource: "secrets" }, "Metadata"],
    ["a Secret read", { verb: "get", group: "", resource: "secrets" }, "Metadata"],
    ["a ConfigMap updated", { verb: "update", group: "", resource: "configmaps" }, "Metadata"],
    ["a service account token requested", { verb: "create", group: "", resource: "serviceaccounts/token" }, "Metadata"],
    ["a token reviewed", { verb: "create", group: "authentication.k8s.io", resource: "tokenreviews" }, "Metadata"],
    ["a Deployment patched", { verb: "patch", group: "apps", resource: "deployments" }, "Metadata"],
    ["a VirtualService applied", { verb: "patch", group: "networking.istio.io", resource: "virtualservices" }, "Metadata"],
    ["pods listed", { verb: "list", group: "", resource: "pods" }, "Metadata"],
    ["an event recorded (core)", { verb: "create", group: "", resource: "events" }, "None"],
    ["an event recorded (events.k8s.io)", { verb: "patch", group: "events.k8s.io", resource: "events" }, "None"],
    ["a liveness probe", { verb: "get", path: "/livez" }, "None"],
    ["a readiness probe of one check", { verb: "get", path: "/readyz/etcd" }, "None"],
    ["a health check", { verb: "get", path: "/healthz" }, "None"],
    ["the API's discovery", { verb: "get", path: "/apis" }, "Metadata"],
    ["the version", { verb: "get", path: "/version" }, "Metadata"],
  ] as [string, Request, AuditLevel][])("%s: %s", (_, request, level) => {
    expect(levelOf(request)).toBe(level);
  });

  test("no rule logs a request or response body (Secrets, tokens), and a last rule catches everything at Metadata", () => {
    const { rules, omitStages } = auditPolicy();
    expect(rules.map((r) => r.level).filter((l) => l === "Request" || l === "RequestResponse")).toEqual([]);
    expect(rules[rules.length - 1]).toEqual({ level: "Metadata" });
    expect(omitStages).toEqual(["RequestReceived"]);
  });

  test("rendered as the API server reads it: one audit.k8s.io/v1 Policy document, the same data", () => {
    const docs = parseAllDocuments(toYaml(auditPolicy())).map((d) => d.toJS() as unknown);
    expect(docs).toEqual([auditPolicy()]);
    expect(docs[0]).toMatchObject({ apiVersion: "audit.k8s.io/v1", kind: "Policy" });
  });
});

describe("the encryption config", () => {
  test("Secrets written with secretbox under the stack's key; plain ones stored before are still read (identity last)", () => {
    const key = encryptionKeyFromPassword("p");
    expect(encryptionConfiguration(key)).toEqual({
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "EncryptionConfiguration",
      resources: [{ resources: ["secrets"], providers: [{ secretbox: { keys: [{ name: "key1", secret: key }] } }, { identity: {} }] }],
    });
    expect(parseAllDocuments(toYaml(encryptionConfiguration(key))).map((d) => d.toJS() as unknown)).toEqual([encryptionConfiguration(key)]);
  });

  test("the key is 32 bytes in base64, the same for the same password and another for another", () => {
    const key = encryptionKeyFromPassword("a".repeat(64));
    expect(key).toMatch(new RegExp(ENCRYPTION_KEY_PATTERN));
    expect(Buffer.from(key, "base64")).toHaveLength(32);
    expect(encryptionKeyFromPassword("a".repeat(64))).toBe(key);
    expect(encryptionKeyFromPassword(`${"a".repeat(63)}b`)).not.toBe(key);
  });
});
