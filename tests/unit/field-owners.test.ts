// recover's field-manager repair (tools/fieldOwners.ts): which managers count as a cut create's
// leftovers, what replaces them, and what is never touched.
import { LiveObject, ownerRepair, providerAccess, repairPatch, resourceArg, stateObjects } from "../../tools/fieldOwners";

const ORPHAN = "pulumi-kubernetes-6c9436bb";
const OURS = "pulumi-kubernetes-ace251f0";
const entry = (manager: string, operation = "Apply", extra: Record<string, unknown> = {}) => ({ manager, operation, apiVersion: "apps/v1", fieldsType: "FieldsV1", fieldsV1: { "f:spec": {} }, ...extra });
const deployment = (...managedFields: ReturnType<typeof entry>[]): LiveObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "reviews-v1", namespace: "bookinfo", resourceVersion: "42", managedFields },
});

describe("field managers left by a cut create", () => {
  test("an orphan beside the stack's manager is removed; the rest is kept as it was", () => {
    const status = entry("kube-controller-manager", "Update", { subresource: "status" });
    const repair = ownerRepair(deployment(entry(ORPHAN), entry(OURS), status), OURS);
    expect(repair?.object).toBe("Deployment bookinfo/reviews-v1");
    expect(repair?.released).toEqual([ORPHAN]);
    expect(repair?.managedFields).toEqual([entry(OURS), status]);
  });

  test("when the stack's manager owns nothing yet (an imported object), it takes over the orphan's fields", () => {
    const repair = ownerRepair(deployment(entry(ORPHAN)), OURS);
    expect(repair?.managedFields).toEqual([entry(OURS)]);
  });

  test("the stack's one manager per stack counts as its own too", () => {
    const repair = ownerRepair(deployment(entry(ORPHAN), entry("pulumi-kubeadm-istio-lab-dev")), "pulumi-kubeadm-istio-lab-dev");
    expect(repair?.released).toEqual([ORPHAN]);
  });

  test("a person's or a tool's manager is never touched, nor an Update by a provider-like name", () => {
    expect(ownerRepair(deployment(entry(OURS), entry("kubectl"), entry("platform-oncall")), OURS)).toBeUndefined();
    expect(ownerRepair(deployment(entry(OURS), entry(ORPHAN, "Update")), OURS)).toBeUndefined();
    expect(ownerRepair(deployment(entry(OURS), entry("pulumi-kubernetes-6c9436bb-x")), OURS)).toBeUndefined();
  });

  test("the patch is refused if the object changed since it was read, and never empties managedFields", () => {
    const live = deployment(entry(ORPHAN));
    const repair = ownerRepair(live, OURS);
    expect(repair).toBeDefined();
    const patch = repairPatch(live, repair!);
    expect(patch[0]).toEqual({ op: "test", path: "/metadata/resourceVersion", value: "42" });
    expect((patch[1] as { value: unknown[] }).value.length).toBeGreaterThan(0);
  });

  test("kubectl's name of a type: Kind.version.group, or Kind in the core group", () => {
    expect(resourceArg({ apiVersion: "apps/v1", kind: "Deployment" })).toBe("Deployment.v1.apps");
    expect(resourceArg({ apiVersion: "networking.istio.io/v1", kind: "VirtualService" })).toBe("VirtualService.v1.networking.istio.io");
    expect(resourceArg({ apiVersion: "v1", kind: "Service" })).toBe("Service");
  });
});

describe("the stack's objects, read from `stack export --show-secrets`", () => {
  const provider = "urn:pulumi:s::p::pulumi:providers:kubernetes::cluster-provider";
  const resources = [
    { urn: provider, id: "pid", type: "pulumi:providers:kubernetes", custom: true, inputs: { kubeconfig: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", plaintext: JSON.stringify("apiVersion: v1\n") }, context: "lab" } },
    { urn: "urn:d", id: "bookinfo/reviews-v1", type: "kubernetes:apps/v1:Deployment", custom: true, provider: `${provider}::pid`, outputs: { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "reviews-v1", namespace: "bookinfo" }, __fieldManager: OURS } },
    { urn: "urn:n", id: "bookinfo", type: "kubernetes:core/v1:Namespace", custom: true, provider: `${provider}::pid`, outputs: { apiVersion: "v1", kind: "Namespace", metadata: { name: "bookinfo" }, __fieldManager: OURS } },
    { urn: "urn:h", id: "istio-system/istiod", type: "kubernetes:helm.sh/v3:Release", custom: true, provider: `${provider}::pid`, outputs: { name: "istiod" } },
    { urn: "urn:c", type: "kubeadm-istio-lab:app:Bookinfo", custom: false },
  ];

  test("Kubernetes objects with their manager and provider; Helm releases and components left out", () => {
    expect(stateObjects(resources)).toEqual([
      { apiVersion: "apps/v1", kind: "Deployment", name: "reviews-v1", namespace: "bookinfo", fieldManager: OURS, provider: `${provider}::pid` },
      { apiVersion: "v1", kind: "Namespace", name: "bookinfo", namespace: undefined, fieldManager: OURS, provider: `${provider}::pid` },
    ]);
  });

  test("the provider's kubeconfig (a secret in the export) and context", () => {
    expect(providerAccess(resources, `${provider}::pid`)).toEqual({ kubeconfig: "apiVersion: v1\n", context: "lab" });
    expect(providerAccess(resources, "urn:other::x")).toBeUndefined();
  });
});
