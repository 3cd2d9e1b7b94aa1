// One field manager per stack (specs/fieldManager.ts): its name, which objects carry it, and that a
// user's own choice of manager on an object is kept.
import { appliesFields, FIELD_MANAGER_ANNOTATION, PROVIDER_RANDOM_MANAGER, stackFieldManager, withFieldManager } from "../../specs/fieldManager";

describe("the stack's field manager", () => {
  test("is named after project and stack, within Kubernetes' 128 characters", () => {
    expect(stackFieldManager("kubeadm-istio-lab", "dev")).toBe("pulumi-kubeadm-istio-lab-dev");
    expect(stackFieldManager("p", "s".repeat(300))).toHaveLength(128);
  });

  test("is never mistaken for a name the provider makes up", () => {
    expect(PROVIDER_RANDOM_MANAGER.test(stackFieldManager("kubeadm-istio-lab", "dev"))).toBe(false);
    expect(PROVIDER_RANDOM_MANAGER.test("pulumi-kubernetes-6c9436bb")).toBe(true);
    expect(PROVIDER_RANDOM_MANAGER.test("pulumi-kubernetes-6c9436bbx")).toBe(false);
    expect(PROVIDER_RANDOM_MANAGER.test("kubectl-client-side-apply")).toBe(false);
  });

  test("goes on objects the provider applies, not on Helm releases, providers or components", () => {
    expect(appliesFields("kubernetes:apps/v1:Deployment", true)).toBe(true);
    expect(appliesFields("kubernetes:networking.istio.io/v1:VirtualService", true)).toBe(true);
    expect(appliesFields("kubernetes:helm.sh/v3:Release", true)).toBe(false);
    expect(appliesFields("pulumi:providers:kubernetes", true)).toBe(false);
    expect(appliesFields("kubernetes:yaml/v2:ConfigGroup", false)).toBe(false);
    expect(appliesFields("command:remote:Command", true)).toBe(false);
  });

  test("is added beside the object's own annotations", () => {
    const metadata = { name: "bookinfo", annotations: { "pulumi.com/patchForce": "true" } };
    expect(withFieldManager(metadata, "m")).toEqual({ name: "bookinfo", annotations: { "pulumi.com/patchForce": "true", [FIELD_MANAGER_ANNOTATION]: "m" } });
    expect(withFieldManager(undefined, "m")).toEqual({ annotations: { [FIELD_MANAGER_ANNOTATION]: "m" } });
    // The input is not changed in place: the SDK may hold on to it.
    expect(metadata.annotations).toEqual({ "pulumi.com/patchForce": "true" });
  });

  test("a manager the object names itself is kept", () => {
    const metadata = { name: "x", annotations: { [FIELD_MANAGER_ANNOTATION]: "platform-team" } };
    expect(withFieldManager(metadata, "m")).toBe(metadata);
  });
});
