import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import type { IstioSpec } from "../config/schema";
import { addonReleases, ChartRelease, istioReleases } from "../specs/istio-install";
import { buildMeshPeerAuthentication } from "../specs/routes";
import { istioResource } from "./istioResource";

export interface IstioArgs {
  /** Version, chart repository, mTLS mode, addons; `install: false` uses the Istio already there. */
  istio: IstioSpec;
  /** Resources that must exist first (component dependsOn does not reach children). */
  after?: pulumi.Resource[];
}

/**
 * Istio from its official Helm charts (base, then istiod, then the ingress gateway) and the mesh-wide
 * mTLS setting. With `install: false` no chart is touched: only the PeerAuthentication this program owns,
 * for clusters whose mesh someone else runs.
 */
export class Istio extends pulumi.ComponentResource {
  /** Depend on these to run after the control plane (and its sidecar injector) is up. */
  readonly ready: pulumi.Resource[];
  readonly peerAuthentication: k8s.apiextensions.CustomResource;

  constructor(name: string, args: IstioArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubeadm-istio-lab:mesh:Istio", name, {}, opts);
    const { istio } = args;

    const release = (r: ChartRelease, dependsOn: pulumi.Resource[]) =>
      new k8s.helm.v3.Release(
        `${name}-${r.name}`,
        {
          name: r.name,
          chart: r.chart,
          version: r.version,
          namespace: r.namespace,
          createNamespace: true,
          repositoryOpts: { repo: r.repository },
          values: r.values,
          timeout: 600,
        },
        { parent: this, dependsOn },
      );

    const after = args.after ?? [];
    let crdsReady: pulumi.Resource[] = after;
    this.ready = [];
    if (istio.install) {
      const charts = istioReleases(istio);
      // Order matters: base brings the CRDs and the webhook that istiod then takes over.
      const base = release(charts.base, after);
      const istiod = release(charts.istiod, [base]);
      const gateway = release(charts.gateway, [istiod]);
      const addons = addonReleases(istio).map((r) => release(r, [istiod]));
      // After istiod and the gateway, not just base's CRDs: base's validating webhook fails open until
      // istiod serves it, so only then does istiod's validation judge the PeerAuthentication too. (istiod's
      // release alone is too early where istiod runs outside the cluster: the engine test of the local
      // stack saw the PeerAuthentication admitted unjudged.)
      crdsReady = [istiod, gateway];
      this.ready = [istiod, gateway, ...addons];
    }

    this.peerAuthentication = istioResource(`${name}-mesh-mtls`, buildMeshPeerAuthentication(istio.mtls), {
      parent: this,
      dependsOn: crdsReady,
    });
    this.registerOutputs({});
  }
}
