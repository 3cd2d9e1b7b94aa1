// The pack's wiring: names, levels, per-stack config, production marking, preview unknowns.
import * as fs from "fs";
import * as path from "path";
import { policies } from "../../policies/pack";
import {
  PackConfig,
  TestResource,
  UNKNOWN_STRING,
  analyzeAll,
  analyzeResources,
  analyzeStack,
  byPolicy,
} from "./harness";
import {
  container,
  deployment,
  goodStack,
  httpRoute,
  peerAuthentication,
  reviewsCanary,
  service,
  virtualService,
} from "./fixtures";

const readConfig = (file: string): PackConfig => JSON.parse(fs.readFileSync(path.join(__dirname, "../../policies/config", file), "utf8")) as PackConfig;

const ratingsDelayed = virtualService("ratings", [
  httpRoute([{ host: "ratings", subset: "v1" }], { name: "ratings-delay", fault: { delay: { percentage: { value: 100 }, fixedDelay: "2s" } } }),
]);

/** The good stack with one resource swapped or added. */
function stackWith(...extra: TestResource[]): TestResource[] {
  const names = new Set(extra.map((r) => `${r.type}/${r.name}`));
  return [...goodStack().filter((r) => !names.has(`${r.type}/${r.name}`)), ...extra];
}

describe("pack metadata", () => {
  test("every policy has a unique kebab-case name, a description and a default level", () => {
    const names = policies.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of policies) {
      expect(p.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(p.description.length).toBeGreaterThan(40);
      expect(["advisory", "mandatory"]).toContain(p.enforcementLevel);
      expect(p.configSchema?.properties?.["enforcementLevel"]).toBeUndefined();
    }
  });
  test("the ten required rules are all there", () => {
    expect(policies.map((p) => p.name)).toEqual(
      expect.arrayContaining([
        "virtualservice-weights-sum-to-100",
        "virtualservice-subsets-defined",
        "container-images-pinned",
        "helm-chart-version-pinned",
        "mesh-mtls-strict",
        "no-fault-injection-in-production",
        "virtualservice-timeouts-retries-coherent",
        "namespace-sidecar-injection",
        "container-resources-declared",
        "no-nodeport-or-loadbalancer-in-production",
        "secrets-stay-secret",
      ]),
    );
  });
});

describe("through validateResource / validateStack", () => {
  test("the Bookinfo lab stack passes every policy", () => {
    expect(analyzeAll(goodStack())).toEqual([]);
  });
  test("weights 90/20 are reported as mandatory by virtualservice-weights-sum-to-100", () => {
    const r = byPolicy(analyzeAll(stackWith(reviewsCanary(90, 20))), "virtualservice-weights-sum-to-100");
    expect(r).toHaveLength(1);
    expect(r[0].level).toBe("mandatory");
    expect(r[0].message).toContain("sum to 100, got 110");
  });
  test("a missing subset is attached to the VirtualService's URN", () => {
    const r = analyzeStack(stackWith(reviewsCanary(50, 50, "r"), virtualService("details", [httpRoute([{ host: "details", subset: "v1" }])])));
    expect(r).toHaveLength(1);
    expect(r[0].policy).toBe("virtualservice-subsets-defined");
    expect(r[0].urn).toContain("::details");
  });
  test("a rule set to disabled in the stack's config reports nothing", () => {
    const stack = stackWith(reviewsCanary(90, 20));
    expect(byPolicy(analyzeAll(stack, { "virtualservice-weights-sum-to-100": "disabled" }), "virtualservice-weights-sum-to-100")).toEqual([]);
  });
  test("a rule can be lowered to advisory, with the object form too", () => {
    const stack = stackWith(reviewsCanary(90, 20));
    const r = analyzeAll(stack, { "virtualservice-weights-sum-to-100": { enforcementLevel: "advisory" } });
    expect(byPolicy(r, "virtualservice-weights-sum-to-100")[0].level).toBe("advisory");
  });
  test('"all": "advisory" lowers every rule', () => {
    const r = analyzeAll(stackWith(reviewsCanary(90, 20), peerAuthentication("DISABLE")), { all: "advisory" });
    expect(r.length).toBeGreaterThanOrEqual(2);
    expect(r.every((x) => x.level === "advisory")).toBe(true);
  });
});

describe("production marking", () => {
  const risky = () => stackWith(ratingsDelayed, service("productpage", "NodePort"));

  test("on a lab stack a fault and a NodePort are fine", () => {
    expect(analyzeAll(risky())).toEqual([]);
    expect(analyzeAll(risky(), readConfig("lab.json"))).toEqual([]);
  });
  test("production=true turns on the fault and NodePort rules", () => {
    const config: PackConfig = {
      "no-fault-injection-in-production": { production: true },
      "no-nodeport-or-loadbalancer-in-production": { production: true },
    };
    const r = analyzeAll(risky(), config);
    expect(r.map((x) => x.policy).sort()).toEqual(["no-fault-injection-in-production", "no-nodeport-or-loadbalancer-in-production"]);
    expect(r.every((x) => x.level === "mandatory")).toBe(true);
  });
  test("the shipped production.json marks every production rule", () => {
    const config = readConfig("production.json");
    for (const p of policies) {
      if (p.configSchema?.properties?.["production"]) {
        const entry = config[p.name];
        expect(typeof entry === "object" && entry.production === true).toBe(true);
      }
    }
    const r = analyzeAll(risky(), config).map((x) => x.policy);
    expect(r).toEqual(expect.arrayContaining(["no-fault-injection-in-production", "no-nodeport-or-loadbalancer-in-production"]));
  });
  test("PERMISSIVE on purpose: advisory on a lab stack, mandatory once production", () => {
    const stack = stackWith(peerAuthentication("PERMISSIVE"));
    const lab = analyzeStack(stack, { "mesh-mtls-strict": { permissiveOnPurpose: true } });
    expect(lab).toHaveLength(1);
    expect(lab[0].level).toBe("advisory");
    const prod = analyzeStack(stack, { "mesh-mtls-strict": { permissiveOnPurpose: true, production: true } });
    expect(prod[0].level).toBe("mandatory");
  });
  test("an advisory override never raises a rule the stack disabled", () => {
    const stack = stackWith(peerAuthentication("PERMISSIVE"));
    expect(analyzeStack(stack, { "mesh-mtls-strict": { enforcementLevel: "disabled", permissiveOnPurpose: true } })).toEqual([]);
  });
  test("a misspelt option fails loudly instead of leaving production unguarded", () => {
    expect(() => analyzeResources(risky(), { "no-fault-injection-in-production": { prodution: true } })).toThrow(/unknown key\(s\) "prodution"; known keys: production/);
  });
});

describe("preview: values not known yet", () => {
  test("a weight computed from an output is skipped, not reported", () => {
    expect(analyzeAll(stackWith(reviewsCanary(UNKNOWN_STRING, 10)))).toEqual([]);
  });
  test("an unknown image or resources do not throw and do not report", () => {
    const d = deployment("reviews-v2", [container("reviews", UNKNOWN_STRING, UNKNOWN_STRING)]);
    expect(analyzeAll(stackWith(d))).toEqual([]);
  });
  test("an unknown spec on the PeerAuthentication suspends the mTLS check", () => {
    const pa = peerAuthentication("STRICT");
    pa.props = { ...pa.props, spec: UNKNOWN_STRING };
    expect(analyzeStack(stackWith(pa), {}, "mesh-mtls-strict")).toEqual([]);
  });
  test("an unknown field elsewhere does not hide a real violation", () => {
    const vs = reviewsCanary(90, 20);
    vs.props = { ...vs.props, metadata: { name: "reviews", namespace: "bookinfo", annotations: UNKNOWN_STRING } };
    expect(byPolicy(analyzeAll(stackWith(vs)), "virtualservice-weights-sum-to-100")).toHaveLength(1);
  });
});
