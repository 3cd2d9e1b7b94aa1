// Field managers a cut create left behind, found and released (part of `npm run recover`).
//
// A stack made before the program named one field manager per stack (specs/fieldManager.ts) may hold
// objects whose fields are co-owned by a manager no run will use again: the provider's random name of a
// create whose apply reached the API server but whose result never reached the state. The next change
// of such a field is refused as a conflict. Such a manager is this program's own when it has the
// provider's random form (`pulumi-kubernetes-<8 hex>`), applied (operation Apply), sits on an object
// this stack holds, and is not the manager the stack's state names for it. Its entry is then removed
// from the object's managedFields, or renamed to the stack's manager when that one owns nothing yet (an
// object imported by recover): the object's content is untouched, only who owns it. A manager of any
// other form (kubectl, a controller, a person's own) is never touched: a conflict with it stays a
// conflict, for the user to settle.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROVIDER_RANDOM_MANAGER } from "../specs/fieldManager";

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  subresource?: string;
  [key: string]: unknown;
}

export interface LiveObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; managedFields?: ManagedFieldsEntry[] };
}

export interface OwnerRepair {
  /** kind namespace/name */
  object: string;
  /** The orphaned managers, released. */
  released: string[];
  /** The object's managedFields after the repair; never empty (an empty list would reset them all). */
  managedFields: ManagedFieldsEntry[];
}

const isOrphan = (e: ManagedFieldsEntry, stateManager: string): boolean =>
  e.operation === "Apply" && e.subresource === undefined && typeof e.manager === "string" && PROVIDER_RANDOM_MANAGER.test(e.manager) && e.manager !== stateManager;

/** What to change on `live`, whose manager in the stack's state is `stateManager`; undefined: nothing. */
export function ownerRepair(live: LiveObject, stateManager: string): OwnerRepair | undefined {
  const entries = live.metadata.managedFields ?? [];
  const orphans = entries.filter((e) => isOrphan(e, stateManager));
  if (orphans.length === 0) return undefined;
  const oursApplied = entries.some((e) => e.operation === "Apply" && e.subresource === undefined && e.manager === stateManager);
  const kept = entries.filter((e) => !orphans.includes(e));
  // The stack's manager owns nothing yet: it takes over what the cut create applied, as its own.
  const managedFields = oursApplied ? kept : [...kept, { ...orphans[0], manager: stateManager }];
  const where = live.metadata.namespace !== undefined ? `${live.metadata.namespace}/` : "";
  return { object: `${live.kind} ${where}${live.metadata.name}`, released: orphans.map((e) => e.manager as string), managedFields };
}

/** The JSON patch that applies `repair`, refused by the API server if the object changed since it was read. */
export function repairPatch(live: LiveObject, repair: OwnerRepair): object[] {
  return [
    { op: "test", path: "/metadata/resourceVersion", value: live.metadata.resourceVersion },
    { op: "replace", path: "/metadata/managedFields", value: repair.managedFields },
  ];
}

/** kubectl's fully qualified name of the object's type: Kind.version.group, or Kind for the core group. */
export function resourceArg(live: Pick<LiveObject, "apiVersion" | "kind">): string {
  const slash = live.apiVersion.indexOf("/");
  return slash < 0 ? live.kind : `${live.kind}.${live.apiVersion.slice(slash + 1)}.${live.apiVersion.slice(0, slash)}`;
}

/** One Kubernetes object of the stack's state, with the provider that manages it. */
export interface StateObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  /** The provider's `__fieldManager` for it. */
  fieldManager: string;
  /** The provider resource's URN and ID, as resources name it (`urn::id`). */
  provider: string;
}

interface ExportedResource {
  urn: string;
  id?: string;
  type: string;
  custom?: boolean;
  provider?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

/** A value of a `stack export --show-secrets` document: secrets come as `{ plaintext: JSON }`. */
function plain(value: unknown): unknown {
  if (value !== null && typeof value === "object" && "plaintext" in value) {
    return JSON.parse(String((value as { plaintext: unknown }).plaintext));
  }
  return value;
}

/** The Kubernetes objects a stack's state holds, with their field manager and provider. */
export function stateObjects(resources: ExportedResource[]): StateObject[] {
  const found: StateObject[] = [];
  for (const r of resources) {
    if (r.custom !== true || !r.type.startsWith("kubernetes:") || r.type.startsWith("kubernetes:helm.sh/") || r.provider === undefined) continue;
    const out = r.outputs ?? {};
    const meta = plain(out.metadata) as { name?: unknown; namespace?: unknown } | undefined;
    const fieldManager = plain(out.__fieldManager);
    const apiVersion = plain(out.apiVersion);
    const kind = plain(out.kind);
    if (typeof fieldManager !== "string" || typeof apiVersion !== "string" || typeof kind !== "string" || typeof meta?.name !== "string") continue;
    found.push({ apiVersion, kind, name: meta.name, namespace: typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : undefined, fieldManager, provider: r.provider });
  }
  return found;
}

/** The kubeconfig text and context of a Kubernetes provider in the exported state. */
export function providerAccess(resources: ExportedResource[], provider: string): { kubeconfig: string; context?: string } | undefined {
  const urn = provider.slice(0, provider.lastIndexOf("::"));
  const p = resources.find((r) => r.urn === urn);
  const kubeconfig = plain(p?.inputs?.kubeconfig);
  const context = plain(p?.inputs?.context);
  if (typeof kubeconfig !== "string" || kubeconfig === "") return undefined;
  return { kubeconfig, context: typeof context === "string" && context !== "" ? context : undefined };
}

/**
 * Finds and releases orphaned managers on every object of `resources` (a `stack export --show-secrets`
 * deployment's resources), with kubectl. Writes kubeconfigs only into `tmpDir` (private). Returns what it
 * did, one line each, and the problems that stopped it.
 */
export function releaseOrphanedManagers(resources: ExportedResource[], tmpDir: string): { released: string[]; problems: string[] } {
  const released: string[] = [];
  const problems: string[] = [];
  const objects = stateObjects(resources);
  const byProvider = new Map<string, StateObject[]>();
  for (const o of objects) byProvider.set(o.provider, [...(byProvider.get(o.provider) ?? []), o]);
  let n = 0;
  for (const [provider, list] of byProvider) {
    const access = providerAccess(resources, provider);
    if (access === undefined) {
      problems.push(`no kubeconfig in the state for provider ${provider}: its objects were not checked`);
      continue;
    }
    const kubeconfigPath = path.join(tmpDir, `kubeconfig-${n++}`);
    fs.writeFileSync(kubeconfigPath, access.kubeconfig, { mode: 0o600 });
    const kubectl = (args: string[], input?: string) =>
      spawnSync("kubectl", ["--kubeconfig", kubeconfigPath, ...(access.context ? ["--context", access.context] : []), ...args], {
        input,
        encoding: "utf8",
        maxBuffer: 256 * 1024 * 1024,
      });
    // All of this provider's objects in one read.
    const wanted = { apiVersion: "v1", kind: "List", items: list.map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.name, namespace: o.namespace } })) };
    const got = kubectl(["get", "-f", "-", "-o", "json", "--show-managed-fields", "--ignore-not-found"], JSON.stringify(wanted));
    if (got.error !== undefined) {
      problems.push(`kubectl could not start (${got.error.message}): install kubectl to check field managers`);
      break;
    }
    if (got.status !== 0) {
      problems.push(`kubectl get of the stack's objects failed: ${got.stderr.trim()}`);
      continue;
    }
    const text = got.stdout.trim();
    const items = text === "" ? [] : ((JSON.parse(text) as { items?: LiveObject[] }).items ?? [JSON.parse(text) as LiveObject]);
    for (const live of items) {
      const mine = list.find((o) => o.kind === live.kind && o.name === live.metadata.name && (o.namespace ?? "") === (live.metadata.namespace ?? ""));
      if (mine === undefined) continue;
      const repair = ownerRepair(live, mine.fieldManager);
      if (repair === undefined) continue;
      const ns = live.metadata.namespace !== undefined ? ["-n", live.metadata.namespace] : [];
      const patched = kubectl(["patch", resourceArg(live), live.metadata.name, ...ns, "--field-manager", "kubeadm-istio-lab-recover", "--type=json", "-p", JSON.stringify(repairPatch(live, repair))]);
      if (patched.status !== 0) {
        problems.push(`${repair.object}: could not release ${repair.released.join(", ")}: ${patched.stderr.trim()}`);
        continue;
      }
      released.push(`${repair.object}: released ${repair.released.join(", ")} (left by a cut create; this stack applies it as ${mine.fieldManager})`);
    }
  }
  return { released, problems };
}
