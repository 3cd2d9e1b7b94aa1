// Rule: credentials stay Pulumi secrets (encrypted in state, masked in diffs and logs).
//
// What a policy can see (@pulumi/policy 1.21.0): the engine sends secrets marked, but the SDK
// unwraps them to plain values before validateResource/validateStack run, so neither can tell
// a secret from a plaintext value. They do see each resource's additionalSecretOutputs option.
// Only remediateResource gets the marks (as `Secret` objects), so plaintext inputs are caught
// there, when a stack runs this policy at the "remediate" level.
import { SecretMark, at, isUnknown, str } from "../lib/plain";
import { ResourceView, TYPES, Violation, describe } from "../lib/types";

export const SECRETS_STAY_SECRET = "secrets-stay-secret";

export interface SecretOptions {
  /** Pulumi resource names this rule skips (e.g. a RandomString used as a name suffix). */
  exemptResources: string[];
}

/**
 * Script fragments that print credentials to stdout: the admin kubeconfig, the bootstrap
 * token, the certificate key. Merely using a kubeconfig (kubectl --kubeconfig ...) does not.
 */
const SENSITIVE_SCRIPT = [
  /\b(?:cat|base64|head|tail|xxd|od)\b[^|;&\n]*(?:admin\.conf|super-admin\.conf|\.kube\/config)/,
  /kubectl\s+config\s+view\b[^|;&\n]*--raw/,
  /kubeadm\s+init\b(?!\s+phase\s+(?:preflight|kubelet-start|kubelet-finalize))/,
  /kubeadm\s+token\s+(?:create|generate|list)/,
  /--print-join-command/,
  /kubeadm\s+(?:init\s+phase\s+upload-certs|certs\s+certificate-key)/,
];

const SCRIPT_FIELDS = ["create", "update", "delete"];

/** Logging modes that keep stdout out of the engine's event log. */
const QUIET_STDOUT = ["none", "stderr"];

export function isSensitiveScript(script: string): boolean {
  return SENSITIVE_SCRIPT.some((re) => re.test(script));
}

export function checkSecretsStaySecret(r: ResourceView, opts: SecretOptions): Violation[] {
  if (opts.exemptResources.includes(r.name)) {
    return [];
  }
  const secretOutputs = new Set(r.additionalSecretOutputs ?? []);
  if (r.type === TYPES.randomString) {
    // RandomString.result is plaintext unless the program asks otherwise (RandomPassword is always secret).
    if (!secretOutputs.has("result")) {
      return [
        {
          message:
            `RandomString ${r.name}: its result is stored in plaintext; if it is a credential (e.g. the kubeadm ` +
            `bootstrap token or certificate key) add additionalSecretOutputs: ["result"], or list the resource in exemptResources.`,
        },
      ];
    }
    return [];
  }
  if (r.type === TYPES.remoteCommand || r.type === TYPES.localCommand) {
    const scripts = SCRIPT_FIELDS.map((f) => r.props[f]).filter((s): s is string => typeof s === "string");
    if (!scripts.some(isSensitiveScript)) {
      return [];
    }
    const out: Violation[] = [];
    if (!secretOutputs.has("stdout")) {
      out.push({
        message:
          `${describe(r)} prints credentials (kubeconfig, bootstrap token or certificate key) but stdout is not secret; ` +
          `add additionalSecretOutputs: ["stdout", "stderr"].`,
      });
    }
    const logging = r.props["logging"];
    if (!isUnknown(logging) && !QUIET_STDOUT.includes(str(logging) ?? "stdoutAndStderr")) {
      out.push({
        message:
          `${describe(r)} prints credentials and logs its stdout (logging: ${str(logging) ?? "default"}); ` +
          `secret outputs still show in the live log. Set logging: "stderr" or "none".`,
      });
    }
    return out;
  }
  return [];
}

/** Inputs that hold credentials, per resource type, as property paths. */
const SECRET_INPUTS: Record<string, string[][]> = {
  [TYPES.k8sProvider]: [["kubeconfig"]],
  [TYPES.remoteCommand]: [
    ["connection", "privateKey"],
    ["connection", "password"],
    ["connection", "privateKeyPassword"],
    ["connection", "proxy", "privateKey"],
    ["connection", "proxy", "password"],
    ["connection", "proxy", "privateKeyPassword"],
  ],
  "command:remote:CopyToRemote": [
    ["connection", "privateKey"],
    ["connection", "password"],
    ["connection", "privateKeyPassword"],
  ],
};

/**
 * Credential inputs that are set but not secret. `marked` is the resource's inputs with the
 * engine's secret marks kept as SecretMark; a mark on an enclosing object (e.g. the whole
 * `connection`) covers the fields inside it. Returns dotted paths, e.g. "connection.privateKey".
 */
export function plaintextSecretInputs(type: string, marked: unknown): string[] {
  const out: string[] = [];
  for (const path of SECRET_INPUTS[type] ?? []) {
    let cur: unknown = marked;
    let covered = false;
    for (const key of path) {
      if (cur instanceof SecretMark) {
        covered = true;
        break;
      }
      cur = at(cur, key);
    }
    if (covered || cur instanceof SecretMark || cur === undefined || cur === null || cur === "" || isUnknown(cur)) {
      continue;
    }
    out.push(path.join("."));
  }
  return out;
}

/** The property paths plaintextSecretInputs looks at, for the remediation to wrap. */
export function secretInputPaths(type: string): string[][] {
  return SECRET_INPUTS[type] ?? [];
}
