// The API server beyond kubeadm's bare defaults, as data: Secrets encrypted at rest in etcd (Istio's CA
// key is a Secret) and an audit log of every request, without request or response bodies. The files are
// written on the control plane by the init step (specs/scripts.ts) before `kubeadm init` starts the API
// server, which reads them from host folders mounted into its static pod at the same paths.
import { createHash } from "crypto";
import { stringify } from "yaml";

/** Host folder of the encryption config: only root reads it (the key is in it). */
export const ENCRYPTION_DIR = "/etc/kubernetes/encryption";
export const ENCRYPTION_CONFIG_FILE = `${ENCRYPTION_DIR}/config.yaml`;
export const AUDIT_POLICY_DIR = "/etc/kubernetes/audit";
export const AUDIT_POLICY_FILE = `${AUDIT_POLICY_DIR}/policy.yaml`;
export const AUDIT_LOG_DIR = "/var/log/kubernetes/audit";
export const AUDIT_LOG_FILE = `${AUDIT_LOG_DIR}/audit.log`;

/** The API server rotates its audit log itself: at most 11 files of 100 MB, none older than 30 days. */
export const AUDIT_LOG_ROTATION = { maxAgeDays: 30, maxBackups: 10, maxSizeMegabytes: 100 };

/**
 * The key's name in the provider list. Every ciphertext carries it (`k8s:enc:secretbox:v1:key1:`), so
 * a rotation done by hand adds its new key under another name.
 */
export const ENCRYPTION_KEY_NAME = "key1";

/** A secretbox key as the EncryptionConfiguration takes it: 32 bytes, base64. */
export const ENCRYPTION_KEY_PATTERN = "^[A-Za-z0-9+/]{43}=$";

/**
 * The 32-byte key from a random password: SHA-256 of it, base64. The password (64 characters of 62
 * kinds, about 381 bits) comes from RandomPassword, whose result the state keeps secret; RandomBytes
 * would give 32 bytes directly but records them as its ID, in plain text in the state.
 */
export function encryptionKeyFromPassword(password: string): string {
  return createHash("sha256").update(password, "utf8").digest("base64");
}

export interface EncryptionConfiguration {
  apiVersion: "apiserver.config.k8s.io/v1";
  kind: "EncryptionConfiguration";
  resources: {
    resources: string[];
    providers: ({ secretbox: { keys: { name: string; secret: string }[] } } | { identity: Record<string, never> })[];
  }[];
}

/**
 * Secrets written with secretbox (XSalsa20 and Poly1305; aescbc is open to padding oracles, aesgcm needs
 * a new key every 200k writes); `identity` last, so Secrets stored before (in plain text) are still read.
 */
export function encryptionConfiguration(key: string): EncryptionConfiguration {
  return {
    apiVersion: "apiserver.config.k8s.io/v1",
    kind: "EncryptionConfiguration",
    resources: [
      {
        resources: ["secrets"],
        providers: [{ secretbox: { keys: [{ name: ENCRYPTION_KEY_NAME, secret: key }] } }, { identity: {} }],
      },
    ],
  };
}

export type AuditLevel = "None" | "Metadata" | "Request" | "RequestResponse";

/** One rule of an audit policy; the first rule that matches a request sets its level. */
export interface AuditRule {
  level: AuditLevel;
  /** API groups ("" is the core group) and resources ("pods", or "serviceaccounts/token" for a subresource). */
  resources?: { group: string; resources: string[] }[];
  /** Paths outside the API; a trailing `*` matches any rest. */
  nonResourceURLs?: string[];
}

export interface AuditPolicy {
  apiVersion: "audit.k8s.io/v1";
  kind: "Policy";
  omitStages: string[];
  rules: AuditRule[];
}

/**
 * Who did what to which object, and never a body: request bodies hold Secrets and tokens, so no rule is
 * at Request or RequestResponse. Probes and events, which arrive every second and change nothing of
 * interest, are not logged.
 */
export function auditPolicy(): AuditPolicy {
  return {
    apiVersion: "audit.k8s.io/v1",
    kind: "Policy",
    // One record per request, when it is answered (ResponseComplete), not another when it arrives.
    omitStages: ["RequestReceived"],
    rules: [
      { level: "None", nonResourceURLs: ["/healthz*", "/livez*", "/readyz*"] },
      { level: "None", resources: [{ group: "", resources: ["events"] }, { group: "events.k8s.io", resources: ["events"] }] },
      // Said on their own, before any rule that a later change might add at a higher level.
      {
        level: "Metadata",
        resources: [
          { group: "", resources: ["secrets", "configmaps", "serviceaccounts/token"] },
          { group: "authentication.k8s.io", resources: ["tokenreviews"] },
        ],
      },
      { level: "Metadata" },
    ],
  };
}

/** An API server flag in kubeadm v1beta4's form. */
export interface ExtraArg {
  name: string;
  value: string;
}

/** A host folder mounted into the API server's pod, in kubeadm v1beta4's form. */
export interface ExtraVolume {
  name: string;
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
  pathType: "DirectoryOrCreate";
}

/** kubeadm ClusterConfiguration's `apiServer`: the flags that read the files above, and their folders. */
export function apiServerHardening(): { extraArgs: ExtraArg[]; extraVolumes: ExtraVolume[] } {
  const folder = (name: string, path: string, readOnly: boolean): ExtraVolume => ({ name, hostPath: path, mountPath: path, readOnly, pathType: "DirectoryOrCreate" });
  return {
    extraArgs: [
      { name: "encryption-provider-config", value: ENCRYPTION_CONFIG_FILE },
      { name: "audit-policy-file", value: AUDIT_POLICY_FILE },
      { name: "audit-log-path", value: AUDIT_LOG_FILE },
      { name: "audit-log-maxage", value: String(AUDIT_LOG_ROTATION.maxAgeDays) },
      { name: "audit-log-maxbackup", value: String(AUDIT_LOG_ROTATION.maxBackups) },
      { name: "audit-log-maxsize", value: String(AUDIT_LOG_ROTATION.maxSizeMegabytes) },
    ],
    extraVolumes: [
      folder("encryption-config", ENCRYPTION_DIR, true),
      folder("audit-policy", AUDIT_POLICY_DIR, true),
      // The API server writes and rotates its log here.
      folder("audit-log", AUDIT_LOG_DIR, false),
    ],
  };
}

/** YAML text of one of the objects above; long values stay on one line. */
export function toYaml(value: object): string {
  return stringify(value, { lineWidth: 0 });
}
