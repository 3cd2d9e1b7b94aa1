// VirtualService traffic rules: canary weights, timeouts and retries, fault injection.
import { checkFaultValues, checkNoFaultsInProduction } from "../../policies/rules/faults";
import { checkRouteWeights } from "../../policies/rules/routeWeights";
import { checkTimeoutsRetries } from "../../policies/rules/timeoutsRetries";
import { httpRoute, reviewsCanary, view, virtualService } from "./fixtures";

describe("virtualservice-weights-sum-to-100", () => {
  test("weights 90/10 pass", () => {
    expect(checkRouteWeights(view(reviewsCanary(90, 10)))).toEqual([]);
  });
  test("weights 50/50 and 100/0 pass", () => {
    expect(checkRouteWeights(view(reviewsCanary(50, 50)))).toEqual([]);
    expect(checkRouteWeights(view(reviewsCanary(100, 0)))).toEqual([]);
  });
  test("blue-green: a single destination with no weight passes", () => {
    const vs = virtualService("reviews", [httpRoute([{ host: "reviews", subset: "v2" }])]);
    expect(checkRouteWeights(view(vs))).toEqual([]);
  });
  test("weights 90/20 fail naming the route", () => {
    const v = checkRouteWeights(view(reviewsCanary(90, 20)));
    expect(v).toHaveLength(1);
    expect(v[0].message).toContain('http route "reviews-canary"');
    expect(v[0].message).toContain("sum to 100, got 110");
    expect(v[0].message).toContain("reviews/v1=90");
  });
  test("an unnamed route is named by its position", () => {
    const vs = virtualService("reviews", [
      httpRoute([{ host: "reviews", subset: "v1" }]),
      httpRoute([
        { host: "reviews", subset: "v1", weight: 50 },
        { host: "reviews", subset: "v3", weight: 40 },
      ]),
    ]);
    expect(checkRouteWeights(view(vs))[0].message).toContain("http[1]");
  });
  test("a split with one weight left out fails", () => {
    const v = checkRouteWeights(view(reviewsCanary(100, undefined)));
    expect(v[0].message).toContain("reviews/v2=unset");
  });
  test("fractional, negative or string weights fail", () => {
    expect(checkRouteWeights(view(reviewsCanary(90.5, 9.5)))[0].message).toContain("integers from 0 to 100");
    expect(checkRouteWeights(view(reviewsCanary(110, -10)))[0].message).toContain("110, -10");
    expect(checkRouteWeights(view(reviewsCanary("90", "10")))[0].message).toContain('"90"');
  });
  test("a single destination weighted 50 fails", () => {
    const vs = virtualService("reviews", [httpRoute([{ host: "reviews", subset: "v1", weight: 50 }])]);
    expect(checkRouteWeights(view(vs))).toHaveLength(1);
  });
  test("tcp routes are checked too", () => {
    const vs = virtualService("mongo", [], {
      tcp: [{ route: [{ destination: { host: "mongo", subset: "v1" }, weight: 70 }, { destination: { host: "mongo", subset: "v2" }, weight: 20 }] }],
    });
    expect(checkRouteWeights(view(vs))[0].message).toContain("tcp[0]");
  });
});

describe("virtualservice-timeouts-retries-coherent", () => {
  const withRoute = (extra: Record<string, unknown>) => view(virtualService("reviews", [httpRoute([{ host: "reviews", subset: "v2" }], { name: "reviews", ...extra })]));

  test("the seed's reviews timeout 0.5s passes", () => {
    expect(checkTimeoutsRetries(withRoute({ timeout: "0.5s" }))).toEqual([]);
  });
  test("3 attempts x 2s within a 10s timeout pass", () => {
    expect(checkTimeoutsRetries(withRoute({ timeout: "10s", retries: { attempts: 3, perTryTimeout: "2s", retryOn: "5xx" } }))).toEqual([]);
  });
  test("durations in ms, m, h and compound pass", () => {
    expect(checkTimeoutsRetries(withRoute({ timeout: "1m30s", retries: { attempts: 2, perTryTimeout: "100ms" } }))).toEqual([]);
    expect(checkTimeoutsRetries(withRoute({ timeout: "1h" }))).toEqual([]);
  });
  test("3 attempts x 2s against a 5s timeout fail with the arithmetic", () => {
    const v = checkTimeoutsRetries(withRoute({ timeout: "5s", retries: { attempts: 3, perTryTimeout: "2s" } }));
    expect(v).toHaveLength(1);
    expect(v[0].message).toContain("6000ms exceeds the route timeout (5s = 5000ms)");
    expect(v[0].message).toContain('http route "reviews"');
  });
  test("a timeout without a unit fails", () => {
    expect(checkTimeoutsRetries(withRoute({ timeout: "5" }))[0].message).toContain('"5" is not a duration');
  });
  test("a numeric timeout fails", () => {
    expect(checkTimeoutsRetries(withRoute({ timeout: 0.5 }))[0].message).toContain("must be a duration string");
  });
  test("zero and negative durations fail", () => {
    expect(checkTimeoutsRetries(withRoute({ timeout: "0s" }))[0].message).toContain("at least 1ms");
    expect(checkTimeoutsRetries(withRoute({ timeout: "-1s" }))[0].message).toContain("not a duration");
  });
  test("a malformed perTryTimeout and fractional attempts fail", () => {
    const v = checkTimeoutsRetries(withRoute({ retries: { attempts: 1.5, perTryTimeout: "2 s" } }));
    expect(v.map((x) => x.message).join("\n")).toMatch(/attempts must be a whole number[\s\S]*perTryTimeout "2 s" is not a duration/);
  });
  test("retries without a route timeout are fine", () => {
    expect(checkTimeoutsRetries(withRoute({ retries: { attempts: 5, perTryTimeout: "2s" } }))).toEqual([]);
  });
});

describe("no-fault-injection-in-production", () => {
  const ratingsDelayed = view(
    virtualService("ratings", [
      httpRoute([{ host: "ratings", subset: "v1" }], { name: "ratings-delay", fault: { delay: { percentage: { value: 100 }, fixedDelay: "2s" } } }),
    ]),
  );
  test("the seed's 2s ratings delay passes on a lab stack", () => {
    expect(checkNoFaultsInProduction(ratingsDelayed, { production: false })).toEqual([]);
  });
  test("the same delay fails on a production stack", () => {
    const v = checkNoFaultsInProduction(ratingsDelayed, { production: true });
    expect(v).toHaveLength(1);
    expect(v[0].message).toContain('http route "ratings-delay": fault injection (delay)');
  });
  test("a route without faults passes on production", () => {
    expect(checkNoFaultsInProduction(view(reviewsCanary(90, 10)), { production: true })).toEqual([]);
  });
});

describe("fault-injection-values-valid", () => {
  const withFault = (fault: Record<string, unknown>) => view(virtualService("ratings", [httpRoute([{ host: "ratings", subset: "v1" }], { fault })]));

  test("delay 2s at 100% and abort 500 at 10% pass", () => {
    expect(checkFaultValues(withFault({ delay: { percentage: { value: 100 }, fixedDelay: "2s" }, abort: { percentage: { value: 10 }, httpStatus: 500 } }))).toEqual([]);
  });
  test("the removed percent field fails", () => {
    expect(checkFaultValues(withFault({ delay: { percent: 100, fixedDelay: "2s" } }))[0].message).toContain('removed field "percent"');
  });
  test("percentage 150 and httpStatus 700 fail", () => {
    const v = checkFaultValues(withFault({ abort: { percentage: { value: 150 }, httpStatus: 700 } }));
    expect(v.map((x) => x.message).join("\n")).toMatch(/0 to 100, got 150[\s\S]*200 to 599, got 700/);
  });
  test("a delay without fixedDelay or with a bad one fails", () => {
    expect(checkFaultValues(withFault({ delay: { percentage: { value: 100 } } }))[0].message).toContain("needs fixedDelay");
    expect(checkFaultValues(withFault({ delay: { fixedDelay: "2" } }))[0].message).toContain('"2" is not a duration');
  });
});
