// Wires the pure rules into CrossGuard policies. index.ts only constructs the PolicyPack,
// because that constructor starts the analyzer server; tests import this module instead.
import {
  EnforcementLevel,
  PolicyConfigSchema,
  PolicyPackArgs,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  Secret,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { PRODUCTION_SCHEMA, assertKnownKeys, boolOption, stringListOption, stringOption } from "./lib/config";
import { SecretMark, UNKNOWN, rec, toPlain } from "./lib/plain";
import { ResourceView, Violation } from "./lib/types";
import { HELM_CHARTS_PINNED, IMAGES_PINNED, checkHelmChartPinned, checkImagesPinned } from "./rules/images";
import { FAULT_VALUES, NO_FAULTS_IN_PRODUCTION, checkFaultValues, checkNoFaultsInProduction } from "./rules/faults";
import { MESH_MTLS_STRICT, checkMeshMtls } from "./rules/mtls";
import { DEFAULT_EXEMPT_NAMESPACES, SIDECAR_INJECTION, checkSidecarInjection } from "./rules/namespaces";
import { CONTAINER_RESOURCES, checkContainerResources } from "./rules/resources";
import { ROUTE_WEIGHTS, checkRouteWeights } from "./rules/routeWeights";
import { SECRETS_STAY_SECRET, checkSecretsStaySecret, plaintextSecretInputs, secretInputPaths } from "./rules/secrets";
import { NO_EXTERNAL_SERVICES_IN_PRODUCTION, checkNoExternalServices } from "./rules/services";
import {
  DESTINATIONRULE_SUBSETS_VALID,
  GATEWAYS_DEFINED,
  SUBSETS_DEFINED,
  checkDestinationRuleSubsets,
  checkGatewaysDefined,
  checkSubsetsDefined,
} from "./rules/subsets";
import { TIMEOUTS_RETRIES, checkTimeoutsRetries } from "./rules/timeoutsRetries";

export const PACK_NAME = "kubeadm-istio-lab";

/** The object form of a report; the 1.21.0 runtime accepts it, its typings only show the string form. */
interface ViolationObject {
  message: string;
  urn?: string;
  enforcementLevel?: EnforcementLevel;
}
type ObjectReport = (v: ViolationObject) => void;

function report(reportViolation: ReportViolation, v: Violation): void {
  if (v.level) {
    // Only the object form can lower the level of a single violation.
    (reportViolation as unknown as ObjectReport)({ message: v.message, urn: v.urn, enforcementLevel: v.level });
  } else {
    reportViolation(v.message, v.urn);
  }
}

function resourceView(args: ResourceValidationArgs): ResourceView {
  return {
    type: args.type,
    name: args.name,
    urn: args.urn,
    props: rec(toPlain(args.props)) ?? {},
    additionalSecretOutputs: args.opts?.additionalSecretOutputs ?? [],
  };
}

function stackViews(args: StackValidationArgs): ResourceView[] {
  return args.resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: rec(toPlain(r.props)) ?? {},
    additionalSecretOutputs: r.opts?.additionalSecretOutputs ?? [],
  }));
}

interface RuleMeta {
  name: string;
  description: string;
  enforcementLevel: EnforcementLevel;
  severity: "low" | "medium" | "high" | "critical";
  configSchema?: PolicyConfigSchema;
}

/** A resource policy from a pure rule: (resource, config) -> violations. */
function resourcePolicy(meta: RuleMeta, rule: (r: ResourceView, config: unknown) => Violation[]): ResourceValidationPolicy {
  return {
    ...meta,
    validateResource: (args, reportViolation) => {
      const config: unknown = args.getConfig<Record<string, unknown>>();
      assertKnownKeys(meta.name, meta.configSchema, config);
      for (const v of rule(resourceView(args), config)) {
        report(reportViolation, v);
      }
    },
  };
}

/** A stack policy from a pure rule: (all resources, config) -> violations. */
function stackPolicy(meta: RuleMeta, rule: (rs: ResourceView[], config: unknown) => Violation[]): StackValidationPolicy {
  return {
    ...meta,
    validateStack: (args, reportViolation) => {
      const config: unknown = args.getConfig<Record<string, unknown>>();
      assertKnownKeys(meta.name, meta.configSchema, config);
      for (const v of rule(stackViews(args), config)) {
        report(reportViolation, v);
      }
    },
  };
}

// ---- secrets: the remediation is the only place where secret marks are visible ----

/** The wire value the engine uses for "unknown during preview" (Pulumi's UnknownStringValue). */
const UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/**
 * Copies remediation props keeping secret marks. Property descriptors read the objects under
 * the SDK's proxies, whose getters would unwrap the marks.
 */
export function markedCopy(value: unknown): unknown {
  if (value instanceof Secret) {
    return new SecretMark(markedCopy(value.value));
  }
  if (value === UNKNOWN_WIRE) {
    return UNKNOWN;
  }
  if (value === null || typeof value !== "object") {
    return value;
  }
  const out: Record<string, unknown> | unknown[] = Array.isArray(value) ? [] : {};
  for (const key of Object.keys(value)) {
    const d = Object.getOwnPropertyDescriptor(value, key);
    (out as Record<string, unknown>)[key] = markedCopy(d?.value);
  }
  return out;
}

/** Wraps plaintext credential inputs in Secret, so the engine encrypts and masks them. */
export function remediateSecrets(args: ResourceValidationArgs): Record<string, unknown> | undefined {
  const config: unknown = args.getConfig<Record<string, unknown>>();
  if (stringListOption(config, "exemptResources", []).includes(args.name)) {
    return undefined;
  }
  const plaintext = new Set(plaintextSecretInputs(args.type, markedCopy(args.props)));
  if (plaintext.size === 0) {
    return undefined;
  }
  const props: Record<string, unknown> = args.props;
  for (const path of secretInputPaths(args.type)) {
    if (!plaintext.has(path.join("."))) {
      continue;
    }
    // Setting through the SDK's proxies writes into the request's props.
    let parent: unknown = props;
    for (const key of path.slice(0, -1)) {
      parent = rec(parent)?.[key];
    }
    const holder = rec(parent);
    const leaf = path[path.length - 1];
    if (holder) {
      holder[leaf] = new Secret(holder[leaf]);
    }
  }
  return props;
}

// ---- the policies ----

const productionOnly = (extra: PolicyConfigSchema["properties"] = {}): PolicyConfigSchema => ({
  properties: { ...PRODUCTION_SCHEMA, ...extra },
});

export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  resourcePolicy(
    {
      name: ROUTE_WEIGHTS,
      description:
        "A VirtualService route that splits traffic gives every destination a weight, integers 0-100 that sum to 100 " +
        "(blue-green and canary steps). One destination may leave its weight out.",
      enforcementLevel: "mandatory",
      severity: "high",
    },
    (r) => checkRouteWeights(r),
  ),
  stackPolicy(
    {
      name: SUBSETS_DEFINED,
      description:
        "Every subset a VirtualService routes to (e.g. reviews v2) is declared by a DestinationRule for that host in this stack; " +
        "otherwise Istio answers 503 (the seed lab forgot this).",
      enforcementLevel: "mandatory",
      severity: "high",
    },
    (rs) => checkSubsetsDefined(rs),
  ),
  resourcePolicy(
    {
      name: IMAGES_PINNED,
      description:
        "Every container image, init containers included, names a version tag other than latest, or a digest; " +
        "an image with no tag means latest.",
      enforcementLevel: "mandatory",
      severity: "medium",
      configSchema: {
        properties: {
          requireDigest: {
            type: "boolean",
            default: false,
            description: "Demand image digests (@sha256:...), not just tags.",
          },
        },
      },
    },
    (r, c) => checkImagesPinned(r, { requireDigest: boolOption(c, "requireDigest", false) }),
  ),
  resourcePolicy(
    {
      name: HELM_CHARTS_PINNED,
      description: "Every Helm chart (Istio's base, istiod, gateway, addons) is installed at an exact version, not whatever the repository serves today.",
      enforcementLevel: "mandatory",
      severity: "medium",
    },
    (r) => checkHelmChartPinned(r),
  ),
  stackPolicy(
    {
      name: MESH_MTLS_STRICT,
      description:
        "The stack has a mesh-wide PeerAuthentication (root namespace, no selector) with mTLS mode STRICT. " +
        "A stack that runs PERMISSIVE on purpose says so with permissiveOnPurpose and gets an advisory instead (never on production).",
      enforcementLevel: "mandatory",
      severity: "high",
      configSchema: productionOnly({
        permissiveOnPurpose: {
          type: "boolean",
          default: false,
          description: "PERMISSIVE mesh-wide mTLS is intended on this stack (e.g. during a migration): report it as advisory.",
        },
        rootNamespace: {
          type: "string",
          default: "istio-system",
          description: "Istio's root namespace (meshConfig.rootNamespace), where the mesh-wide policy lives.",
        },
      }),
    },
    (rs, c) =>
      checkMeshMtls(rs, {
        production: boolOption(c, "production", false),
        permissiveOnPurpose: boolOption(c, "permissiveOnPurpose", false),
        rootNamespace: stringOption(c, "rootNamespace", "istio-system"),
      }),
  ),
  resourcePolicy(
    {
      name: NO_FAULTS_IN_PRODUCTION,
      description: "No fault injection (delay or abort) in VirtualServices on a stack marked production; faults are for lab experiments.",
      enforcementLevel: "mandatory",
      severity: "critical",
      configSchema: productionOnly(),
    },
    (r, c) => checkNoFaultsInProduction(r, { production: boolOption(c, "production", false) }),
  ),
  resourcePolicy(
    {
      name: FAULT_VALUES,
      description:
        "Fault injection values are ones Istio accepts: percentage.value 0-100 (not the removed percent), " +
        "a well-formed fixedDelay, abort httpStatus 200-599.",
      enforcementLevel: "mandatory",
      severity: "medium",
    },
    (r) => checkFaultValues(r),
  ),
  resourcePolicy(
    {
      name: TIMEOUTS_RETRIES,
      description:
        "Route timeouts and retry per-try timeouts are positive Istio durations (0.5s, 2s, 100ms, 1m, 1h), and " +
        "attempts x perTryTimeout fits within the route timeout when both are set.",
      enforcementLevel: "mandatory",
      severity: "medium",
    },
    (r) => checkTimeoutsRetries(r),
  ),
  stackPolicy(
    {
      name: SIDECAR_INJECTION,
      description:
        "A namespace this stack creates that runs Deployments or StatefulSets carries istio-injection=enabled or istio.io/rev, " +
        "so its pods get sidecars. System namespaces are exempt.",
      enforcementLevel: "mandatory",
      severity: "high",
      configSchema: {
        properties: {
          exemptNamespaces: {
            type: "array",
            items: { type: "string" },
            default: DEFAULT_EXEMPT_NAMESPACES,
            description: "Namespaces that never get sidecars.",
          },
        },
      },
    },
    (rs, c) => checkSidecarInjection(rs, { exemptNamespaces: stringListOption(c, "exemptNamespaces", DEFAULT_EXEMPT_NAMESPACES) }),
  ),
  resourcePolicy(
    {
      name: CONTAINER_RESOURCES,
      description: "Every container, init containers included, declares CPU and memory requests and limits.",
      enforcementLevel: "mandatory",
      severity: "medium",
      configSchema: {
        properties: {
          requireCpuLimit: {
            type: "boolean",
            default: true,
            description: "Also demand limits.cpu (some teams leave CPU unlimited to avoid throttling).",
          },
        },
      },
    },
    (r, c) => checkContainerResources(r, { requireCpuLimit: boolOption(c, "requireCpuLimit", true) }),
  ),
  resourcePolicy(
    {
      name: NO_EXTERNAL_SERVICES_IN_PRODUCTION,
      description:
        "On a stack marked production, no Service is of type NodePort or LoadBalancer except the Istio ingress gateway " +
        "(label istio=ingressgateway or app=istio-ingressgateway).",
      enforcementLevel: "mandatory",
      severity: "high",
      configSchema: productionOnly(),
    },
    (r, c) => checkNoExternalServices(r, { production: boolOption(c, "production", false) }),
  ),
  {
    ...resourcePolicy(
      {
        name: SECRETS_STAY_SECRET,
        description:
          "Credentials stay Pulumi secrets: RandomStrings used as tokens keep result secret, commands that print the " +
          "kubeconfig, bootstrap token or certificate key keep stdout secret and unlogged; at level remediate, plaintext " +
          "SSH keys and kubeconfigs are also turned into secrets.",
        enforcementLevel: "mandatory",
        severity: "critical",
        configSchema: {
          properties: {
            exemptResources: {
              type: "array",
              items: { type: "string" },
              default: [],
              description: "Pulumi resource names to skip, e.g. a RandomString used only as a name suffix.",
            },
          },
        },
      },
      (r, c) => checkSecretsStaySecret(r, { exemptResources: stringListOption(c, "exemptResources", []) }),
    ),
    remediateResource: remediateSecrets,
  },
  stackPolicy(
    {
      name: GATEWAYS_DEFINED,
      description:
        "A VirtualService bound to a Gateway names one this stack defines (or one listed in externalGateways); " +
        "\"mesh\" needs no Gateway.",
      enforcementLevel: "mandatory",
      severity: "medium",
      configSchema: {
        properties: {
          externalGateways: {
            type: "array",
            items: { type: "string" },
            default: [],
            description: "Gateways defined outside this stack, as namespace/name.",
          },
        },
      },
    },
    (rs, c) => checkGatewaysDefined(rs, { externalGateways: stringListOption(c, "externalGateways", []) }),
  ),
  resourcePolicy(
    {
      name: DESTINATIONRULE_SUBSETS_VALID,
      description: "DestinationRule subsets have unique names and non-empty labels, so each one selects one version.",
      enforcementLevel: "mandatory",
      severity: "medium",
    },
    (r) => checkDestinationRuleSubsets(r),
  ),
];

export const packArgs: PolicyPackArgs = {
  description: "Guards for the kubeadm + Istio lab: traffic rules Istio accepts, pinned artifacts, mesh security, production limits.",
  policies,
};
