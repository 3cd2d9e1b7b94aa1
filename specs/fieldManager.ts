// One Server-Side Apply field manager per stack, for every Kubernetes object the program applies.
//
// Left alone, the Kubernetes provider names a new random manager (`pulumi-kubernetes-<8 hex>`) at each
// create and keeps it in state. A create whose apply reached the API server but whose result never
// reached the state (an API-server outage, a dropped connection, Ctrl-C) leaves that name owning the
// object's fields; the next `up` creates the object again under another random name, and the two share
// every field. The first later change of such a field (a replica count, a route weight) is then refused
// as a conflict with a manager no run will ever use again. With one name per stack, the retried create
// applies as the same manager and there is nothing to share.

/** The provider reads the field manager from this annotation before its state or a random name. */
export const FIELD_MANAGER_ANNOTATION = "pulumi.com/patchFieldManager";

/** The names the provider makes up when no annotation names a manager. */
export const PROVIDER_RANDOM_MANAGER = /^pulumi-kubernetes-[0-9a-f]{8}$/;

/** Kubernetes caps a field manager's name at 128 characters. */
const MAX_MANAGER_LENGTH = 128;

/** The stack's field manager: `pulumi-<project>-<stack>`, e.g. `pulumi-kubeadm-istio-lab-dev`. */
export function stackFieldManager(project: string, stack: string): string {
  return `pulumi-${project}-${stack}`.slice(0, MAX_MANAGER_LENGTH);
}

/**
 * Which resources get the annotation: every Kubernetes object the provider applies itself. Helm
 * releases apply as Helm's own manager, and providers and components apply nothing.
 */
export function appliesFields(type: string, custom: boolean): boolean {
  return custom && type.startsWith("kubernetes:") && !type.startsWith("kubernetes:helm.sh/");
}

export interface Metadata {
  annotations?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * `metadata` with the field manager's annotation added. An annotation the object already sets (a user's
 * own choice of manager) is kept.
 */
export function withFieldManager(metadata: Metadata | undefined, manager: string): Metadata {
  const annotations = metadata?.annotations ?? {};
  if (FIELD_MANAGER_ANNOTATION in annotations) return metadata ?? {};
  return { ...metadata, annotations: { ...annotations, [FIELD_MANAGER_ANNOTATION]: manager } };
}
