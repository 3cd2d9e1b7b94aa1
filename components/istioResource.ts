import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IstioObject } from "../specs/istio";

/** Registers a rendered Istio object (VirtualService, DestinationRule, ...) as a custom resource. */
export function istioResource<Kind extends string, Spec>(
  name: string,
  object: IstioObject<Kind, Spec>,
  opts: pulumi.CustomResourceOptions,
): k8s.apiextensions.CustomResource {
  return new k8s.apiextensions.CustomResource(
    name,
    { apiVersion: object.apiVersion, kind: object.kind, metadata: object.metadata, spec: object.spec },
    opts,
  );
}
