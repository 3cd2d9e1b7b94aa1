// VirtualService <-> DestinationRule / Gateway links across the stack.
import { checkDestinationRuleSubsets, checkGatewaysDefined, checkSubsetsDefined } from "../../policies/rules/subsets";
import { UNKNOWN } from "../../policies/lib/plain";
import { destinationRule, gateway, httpRoute, reviewsCanary, view, virtualService } from "./fixtures";

describe("virtualservice-subsets-defined", () => {
  test("reviews v1/v2 canary with a DestinationRule declaring v1, v2, v3 passes", () => {
    expect(checkSubsetsDefined([reviewsCanary(90, 10), destinationRule("reviews", ["v1", "v2", "v3"])].map(view))).toEqual([]);
  });
  test("the seed's mistake: subsets with no DestinationRule fail with Istio's 503", () => {
    const v = checkSubsetsDefined([view(reviewsCanary(90, 10))]);
    expect(v).toHaveLength(2);
    expect(v[0].message).toContain('subset "v1" of reviews.bookinfo.svc.cluster.local');
    expect(v[0].message).toContain("503");
    expect(v[0].urn).toBe("urn:reviews");
  });
  test("a subset the DestinationRule does not declare fails, listing the declared ones", () => {
    const v = checkSubsetsDefined([reviewsCanary(90, 10), destinationRule("reviews", ["v1"])].map(view));
    expect(v).toHaveLength(1);
    expect(v[0].message).toContain('subset "v2"');
    expect(v[0].message).toContain("declared: v1");
  });
  test("a short host in the VirtualService matches an FQDN host in the DestinationRule", () => {
    const dr = destinationRule("reviews.bookinfo.svc.cluster.local", ["v1", "v2"]);
    expect(checkSubsetsDefined([reviewsCanary(50, 50), dr].map(view))).toEqual([]);
  });
  test("the same short name in another namespace is another host", () => {
    const dr = destinationRule("reviews", ["v1", "v2"], "other");
    expect(checkSubsetsDefined([reviewsCanary(50, 50), dr].map(view))).toHaveLength(2);
  });
  test("a mirror to an undeclared subset fails", () => {
    const vs = virtualService("reviews", [httpRoute([{ host: "reviews", subset: "v1" }], { mirror: { host: "reviews", subset: "v3" } })]);
    const v = checkSubsetsDefined([vs, destinationRule("reviews", ["v1"])].map(view));
    expect(v[0].message).toContain('subset "v3"');
  });
  test("a DestinationRule not known yet during preview suspends the check", () => {
    const dr = view(destinationRule("reviews", ["v1"]));
    dr.props = { ...dr.props, spec: UNKNOWN };
    expect(checkSubsetsDefined([view(reviewsCanary(90, 10)), dr])).toEqual([]);
  });
});

describe("virtualservice-gateways-defined", () => {
  const bound = (gw: string) =>
    virtualService("bookinfo", [httpRoute([{ host: "productpage" }])], { hosts: ["*"], gateways: [gw] });

  test("bookinfo bound to bookinfo-gateway in the same namespace passes", () => {
    expect(checkGatewaysDefined([bound("bookinfo-gateway"), gateway("bookinfo-gateway")].map(view), { externalGateways: [] })).toEqual([]);
  });
  test("namespace/name references and the mesh gateway pass", () => {
    const vs = bound("istio-system/main");
    const mesh = bound("mesh");
    expect(checkGatewaysDefined([vs, mesh, gateway("main", "istio-system")].map(view), { externalGateways: [] })).toEqual([]);
  });
  test("a misspelt gateway fails", () => {
    const v = checkGatewaysDefined([bound("bookinfo-gw"), gateway("bookinfo-gateway")].map(view), { externalGateways: [] });
    expect(v[0].message).toContain('Gateway "bookinfo-gw" (bookinfo/bookinfo-gw)');
  });
  test("a gateway listed in externalGateways passes", () => {
    expect(checkGatewaysDefined([view(bound("istio-system/shared"))], { externalGateways: ["istio-system/shared"] })).toEqual([]);
  });
});

describe("destinationrule-subsets-valid", () => {
  test("Bookinfo's reviews subsets v1/v2/v3 pass", () => {
    expect(checkDestinationRuleSubsets(view(destinationRule("reviews", ["v1", "v2", "v3"])))).toEqual([]);
  });
  test("a duplicated subset name fails", () => {
    expect(checkDestinationRuleSubsets(view(destinationRule("reviews", ["v1", "v1"])))[0].message).toContain('"v1" more than once');
  });
  test("a subset without labels fails", () => {
    const dr = view(destinationRule("reviews", []));
    dr.props = { ...dr.props, spec: { host: "reviews", subsets: [{ name: "v1" }] } };
    expect(checkDestinationRuleSubsets(dr)[0].message).toContain("has no labels");
  });
});
