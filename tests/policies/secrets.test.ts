// Secrets: what the policies can see, and the remediation that sees secret marks.
import { Secret } from "@pulumi/policy";
import { SecretMark } from "../../policies/lib/plain";
import { checkSecretsStaySecret, isSensitiveScript, plaintextSecretInputs } from "../../policies/rules/secrets";
import { TYPES } from "../../policies/lib/types";
import { analyzeResources, remediate } from "./harness";
import { view } from "./fixtures";
import { TestResource } from "./harness";

const none = { exemptResources: [] };

const token = (secretOutputs: string[] = []): TestResource => ({
  type: TYPES.randomString,
  name: "bootstrap-token-id",
  props: { length: 6, special: false, upper: false },
  additionalSecretOutputs: secretOutputs,
});

const readKubeconfig = (extra: Record<string, unknown> = {}, secretOutputs: string[] = []): TestResource => ({
  type: TYPES.remoteCommand,
  name: "read-kubeconfig",
  props: { connection: { host: "192.0.2.10", port: 22, user: "debian", privateKey: "fake-ssh-private-key-for-tests" }, create: "sudo cat /etc/kubernetes/admin.conf", ...extra },
  additionalSecretOutputs: secretOutputs,
});

describe("secrets-stay-secret (visible checks)", () => {
  test("a bootstrap token RandomString with additionalSecretOutputs result passes", () => {
    expect(checkSecretsStaySecret(view(token(["result"])), none)).toEqual([]);
  });
  test("a RandomString without it fails, unless exempt", () => {
    expect(checkSecretsStaySecret(view(token()), none)[0].message).toContain('additionalSecretOutputs: ["result"]');
    expect(checkSecretsStaySecret(view(token()), { exemptResources: ["bootstrap-token-id"] })).toEqual([]);
  });
  test("reading admin.conf with secret stdout and logging none passes", () => {
    expect(checkSecretsStaySecret(view(readKubeconfig({ logging: "none" }, ["stdout", "stderr"])), none)).toEqual([]);
  });
  test("reading admin.conf with plaintext, logged stdout fails twice", () => {
    const v = checkSecretsStaySecret(view(readKubeconfig()), none).map((x) => x.message);
    expect(v).toHaveLength(2);
    expect(v[0]).toContain("stdout is not secret");
    expect(v[1]).toContain('logging: "stderr" or "none"');
  });
  test("kubeadm init and token commands count as sensitive; apt-get does not", () => {
    expect(isSensitiveScript("kubeadm init --pod-network-cidr=10.0.0.0/16 --upload-certs")).toBe(true);
    expect(isSensitiveScript("kubeadm token create --print-join-command")).toBe(true);
    expect(isSensitiveScript("apt-get install -y kubeadm kubelet kubectl")).toBe(false);
    expect(isSensitiveScript("kubeadm init phase preflight")).toBe(false);
    expect(isSensitiveScript("kubeadm init phase upload-certs --upload-certs")).toBe(true);
    expect(isSensitiveScript("kubectl config view --raw")).toBe(true);
  });
  test("using admin.conf as kubectl's kubeconfig (a drain) is not printing it", () => {
    expect(isSensitiveScript('kubeconfig=/etc/kubernetes/admin.conf\nkubectl --kubeconfig "$kubeconfig" drain node1')).toBe(false);
    expect(isSensitiveScript("sudo cat /etc/kubernetes/admin.conf")).toBe(true);
    expect(isSensitiveScript("base64 -w0 ~/.kube/config")).toBe(true);
  });
});

describe("secrets-stay-secret (remediation sees secret marks)", () => {
  test("plaintextSecretInputs finds a plaintext privateKey, not a marked one", () => {
    const plain = { connection: { host: "h", privateKey: "k" } };
    const marked = { connection: { host: "h", privateKey: new SecretMark("k") } };
    const wholeConnection = { connection: new SecretMark({ host: "h", privateKey: "k" }) };
    expect(plaintextSecretInputs(TYPES.remoteCommand, plain)).toEqual(["connection.privateKey"]);
    expect(plaintextSecretInputs(TYPES.remoteCommand, marked)).toEqual([]);
    expect(plaintextSecretInputs(TYPES.remoteCommand, wholeConnection)).toEqual([]);
    expect(plaintextSecretInputs(TYPES.k8sProvider, { kubeconfig: "apiVersion: v1" })).toEqual(["kubeconfig"]);
  });
  test("at level remediate a plaintext SSH key is wrapped as a secret", async () => {
    const result = await remediate("secrets-stay-secret", readKubeconfig(), { "secrets-stay-secret": "remediate" });
    const key = Object.getOwnPropertyDescriptor(result?.["connection"], "privateKey")?.value;
    expect(key).toBeInstanceOf(Secret);
    expect((key as Secret).value).toBe("fake-ssh-private-key-for-tests");
  });
  test("at level remediate a plaintext kubeconfig on the provider is wrapped", async () => {
    const provider: TestResource = { type: TYPES.k8sProvider, name: "k8s", props: { kubeconfig: "apiVersion: v1\nkind: Config" } };
    const result = await remediate("secrets-stay-secret", provider, { "secrets-stay-secret": "remediate" });
    expect(Object.getOwnPropertyDescriptor(result, "kubeconfig")?.value).toBeInstanceOf(Secret);
  });
  test("an SSH key that is already secret is left alone", async () => {
    const r = readKubeconfig();
    r.props = { ...r.props, connection: { host: "192.0.2.10", user: "debian", privateKey: new Secret("k") } };
    expect(await remediate("secrets-stay-secret", r, { "secrets-stay-secret": "remediate" })).toBeUndefined();
  });
  test("at the default level (mandatory) nothing is remediated", async () => {
    expect(await remediate("secrets-stay-secret", readKubeconfig())).toBeUndefined();
  });
  test("validateResource cannot tell: a secret SSH key and a plaintext one look the same", () => {
    // The SDK hands validateResource unwrapped values; the harness does the same.
    const reported = analyzeResources([readKubeconfig({ logging: "none" }, ["stdout"])], {}, "secrets-stay-secret");
    expect(reported).toEqual([]);
  });
});
