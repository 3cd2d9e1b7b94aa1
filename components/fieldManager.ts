import * as pulumi from "@pulumi/pulumi";
import { appliesFields, Metadata, stackFieldManager, withFieldManager } from "../specs/fieldManager";

/**
 * Names this stack's field manager on every Kubernetes object registered after it (see
 * specs/fieldManager.ts for why). Registered once, before the first resource. Returns the name.
 */
export function useStackFieldManager(): string {
  const manager = stackFieldManager(pulumi.getProject(), pulumi.getStack());
  pulumi.runtime.registerResourceTransform(({ type, custom, props, opts }) => {
    if (!appliesFields(type, custom)) return undefined;
    const metadata: unknown = props.metadata;
    // In a preview a whole metadata block can still be unknown; its annotation is then added when known.
    const annotated = pulumi.Output.isInstance(metadata)
      ? metadata.apply((m) => withFieldManager(m as Metadata, manager))
      : withFieldManager(metadata as Metadata | undefined, manager);
    return { props: { ...props, metadata: annotated }, opts };
  });
  return manager;
}
