// Workload rules: pinned images and charts, resources, sidecar injection, exposure.
import { checkContainerResources } from "../../policies/rules/resources";
import { checkHelmChartPinned, checkImagesPinned, imageProblem } from "../../policies/rules/images";
import { checkSidecarInjection } from "../../policies/rules/namespaces";
import { checkNoExternalServices } from "../../policies/rules/services";
import { TYPES } from "../../policies/lib/types";
import { DEFAULT_EXEMPT_NAMESPACES } from "../../policies/rules/namespaces";
import { GOOD_RESOURCES, container, deployment, helmRelease, namespace, service, view } from "./fixtures";

const tagOnly = { requireDigest: false };

describe("container-images-pinned", () => {
  test("Bookinfo images at 1.20.3 pass", () => {
    expect(checkImagesPinned(view(deployment("reviews-v1", [container("reviews", "docker.io/istio/examples-bookinfo-reviews-v1:1.20.3")])), tagOnly)).toEqual([]);
  });
  test("a digest passes, even with requireDigest", () => {
    const img = "ghcr.io/weaveworks/launcher/weave-kube@sha256:" + "a".repeat(64);
    expect(imageProblem(img, { requireDigest: true })).toBeUndefined();
  });
  test("a registry port is not a tag", () => {
    expect(imageProblem("localhost:5000/productpage", tagOnly)).toContain("no tag");
    expect(imageProblem("localhost:5000/productpage:1.2", tagOnly)).toBeUndefined();
  });
  test(":latest and an untagged image fail, init containers included", () => {
    const d = deployment("productpage-v1", [container("productpage", "istio/examples-bookinfo-productpage-v1:latest")], {
      initContainers: [container("wait", "busybox")],
    });
    const v = checkImagesPinned(view(d), tagOnly).map((x) => x.message);
    expect(v).toHaveLength(2);
    expect(v[0]).toContain('initContainers "wait": image "busybox" has no tag');
    expect(v[1]).toContain("uses the :latest tag");
  });
  test("requireDigest refuses a tag", () => {
    expect(checkImagesPinned(view(deployment("x", [container("x", "nginx:1.27")])), { requireDigest: true })).toHaveLength(1);
  });
  test("Weave Net's DaemonSet is checked like a Deployment", () => {
    const ds = deployment("weave-net", [container("weave", "weaveworks/weave-kube")], { namespace: "kube-system" });
    ds.type = TYPES.daemonSet;
    expect(checkImagesPinned(view(ds), tagOnly)).toHaveLength(1);
  });
});

describe("helm-chart-version-pinned", () => {
  test("istiod at 1.27.3 passes", () => {
    expect(checkHelmChartPinned(view(helmRelease("istiod", "istiod", "1.27.3")))).toEqual([]);
  });
  test("a chart without version fails", () => {
    expect(checkHelmChartPinned(view(helmRelease("istiod", "istiod")))[0].message).toContain("has no version");
  });
  test("a version range fails", () => {
    expect(checkHelmChartPinned(view(helmRelease("istiod", "istiod", "^1.27.0")))[0].message).toContain("a range");
    expect(checkHelmChartPinned(view(helmRelease("istiod", "istiod", "1.27.x")))[0].message).toContain("a range");
  });
  test("a local chart needs no version", () => {
    expect(checkHelmChartPinned(view(helmRelease("addons", "./charts/addons")))).toEqual([]);
  });
});

describe("container-resources-declared", () => {
  const opts = { requireCpuLimit: true };
  test("requests and limits for cpu and memory pass", () => {
    expect(checkContainerResources(view(deployment("ratings-v1", [container("ratings", "x:1", GOOD_RESOURCES)])), opts)).toEqual([]);
  });
  test("a container without resources fails naming what is missing", () => {
    const v = checkContainerResources(view(deployment("ratings-v1", [container("ratings", "x:1", null)])), opts);
    expect(v[0].message).toContain('containers "ratings" is missing resources requests.cpu, requests.memory, limits.memory, limits.cpu');
  });
  test("an init container without limits fails", () => {
    const d = deployment("ratings-v1", [container("ratings", "x:1")], { initContainers: [container("init", "x:1", { requests: { cpu: "10m", memory: "16Mi" } })] });
    expect(checkContainerResources(view(d), opts)[0].message).toContain('initContainers "init" is missing resources limits.memory, limits.cpu');
  });
  test("requireCpuLimit: false accepts a container without a CPU limit", () => {
    const d = deployment("ratings-v1", [container("ratings", "x:1", { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } })]);
    expect(checkContainerResources(view(d), { requireCpuLimit: false })).toEqual([]);
    expect(checkContainerResources(view(d), opts)).toHaveLength(1);
  });
});

describe("namespace-sidecar-injection", () => {
  const opts = { exemptNamespaces: DEFAULT_EXEMPT_NAMESPACES };
  const app = deployment("productpage-v1", [container("productpage", "x:1")]);

  test("bookinfo labelled istio-injection=enabled passes", () => {
    expect(checkSidecarInjection([namespace("bookinfo", { "istio-injection": "enabled" }), app].map(view), opts)).toEqual([]);
  });
  test("a revision label istio.io/rev passes", () => {
    expect(checkSidecarInjection([namespace("bookinfo", { "istio.io/rev": "1-27" }), app].map(view), opts)).toEqual([]);
  });
  test("the seed's typo istio-injectio fails", () => {
    const v = checkSidecarInjection([namespace("bookinfo", { "istio-injectio": "enabled" }), app].map(view), opts);
    expect(v).toHaveLength(1);
    expect(v[0].message).toContain('Namespace "bookinfo" runs Deployment bookinfo/productpage-v1');
    expect(v[0].urn).toBe("urn:ns-bookinfo");
  });
  test("istio-injection=disabled wins over a revision label", () => {
    expect(checkSidecarInjection([namespace("bookinfo", { "istio-injection": "disabled", "istio.io/rev": "1-27" }), app].map(view), opts)).toHaveLength(1);
  });
  test("kube-system holding Weave is exempt, and an empty namespace needs nothing", () => {
    const weave = deployment("weave", [container("weave", "x:1")], { namespace: "kube-system" });
    expect(checkSidecarInjection([namespace("kube-system"), namespace("empty"), weave].map(view), opts)).toEqual([]);
  });
  test("a workload that opts out of injection does not need the label", () => {
    const job = deployment("loadgen", [container("loadgen", "x:1")], { templateMeta: { annotations: { "sidecar.istio.io/inject": "false" } } });
    expect(checkSidecarInjection([namespace("bookinfo"), job].map(view), opts)).toEqual([]);
  });
});

describe("no-nodeport-or-loadbalancer-in-production", () => {
  test("the seed's productpage NodePort passes on a lab stack", () => {
    expect(checkNoExternalServices(view(service("productpage", "NodePort")), { production: false })).toEqual([]);
  });
  test("the same NodePort fails on production", () => {
    expect(checkNoExternalServices(view(service("productpage", "NodePort")), { production: true })[0].message).toContain("of type NodePort on a production stack");
  });
  test("a LoadBalancer fails on production, ClusterIP passes", () => {
    expect(checkNoExternalServices(view(service("details", "LoadBalancer")), { production: true })).toHaveLength(1);
    expect(checkNoExternalServices(view(service("details", "ClusterIP")), { production: true })).toEqual([]);
  });
  test("the ingress gateway may be a LoadBalancer on production", () => {
    expect(checkNoExternalServices(view(service("istio-ingressgateway", "LoadBalancer", { istio: "ingressgateway" })), { production: true })).toEqual([]);
    expect(checkNoExternalServices(view(service("gw", "NodePort", { app: "istio-ingressgateway" })), { production: true })).toEqual([]);
  });
});
