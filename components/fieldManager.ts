import * as pulumi from "@pulumi/pulumi";
import { appliesFields, Metadata, stackFieldManager, withFieldManager } from "../specs/fieldManager";

/**
 * A transform that names this stack's field manager on every Kubernetes object under the component
 * it is given to (see specs/fieldManager.ts for why). A component option rather than a stack-wide
 * transform: the engine applies it to the children of every component that talks to the cluster.
 */
export function stackFieldManagerTransform(): pulumi.ResourceTransform {
  const manager = stackFieldManager(pulumi.getProject(), pulumi.getStack());
  return ({ type, custom, props }) => {
    if (!appliesFields(type, custom)) return undefined;
    const metadata: unknown = props.metadata;
    // In a preview a whole metadata block can still be unknown; its annotation is then added when known.
    const annotated = pulumi.Output.isInstance(metadata)
      ? metadata.apply((m) => withFieldManager(m as Metadata, manager))
      : withFieldManager(metadata as Metadata | undefined, manager);
    // Options unchanged: without `opts` the SDK hands the engine the resource's own options as they
    // came; given back, they are rebuilt field by field, and the rebuild fails on some of them.
    const unchangedOptions: Omit<pulumi.ResourceTransformResult, "opts"> = { props: { ...props, metadata: annotated } };
    return unchangedOptions as pulumi.ResourceTransformResult;
  };
}
