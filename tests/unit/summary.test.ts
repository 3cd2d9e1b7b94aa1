// The preview summary renderer (tools/summary) on previews captured from the real engine and
// Kubernetes provider (tests/fixtures/previews, made by scripts/capture-previews.sh), and its pure
// parts on small specs.
import * as fs from "fs";
import * as path from "path";
import { parseLabConfig, RawConfig } from "../../config/schema";
import { main, parseArgs } from "../../tools/summary";
import { configRoutingChanges } from "../../tools/summary/configDiff";
import { parsePreview, typeFromUrn } from "../../tools/summary/preview";
import { describeRouting, describeRoutingChange } from "../../tools/summary/routing";
import { declaresDeploy, touchedStacks } from "../../tools/summary/stacks";
import { renderSummary, summarize, Summary } from "../../tools/summary/summarize";

const FIXTURES = path.resolve(__dirname, "..", "fixtures", "previews");
const load = (name: string) => parsePreview(fs.readFileSync(path.join(FIXTURES, name), "utf8"));
const summaryOf = (name: string): Summary => summarize(load(name));
const md = (s: Summary) => renderSummary(s, { format: "md" }).join("\n");
const text = (s: Summary) => renderSummary(s, { format: "text" }).join("\n");
const lines = (s: Summary) => s.routing.map((r) => r.line);

describe("captured previews", () => {
  test("a weight flip: one routing line, before → after for each destination, nothing else", () => {
    const s = summaryOf("weight-flip.json");
    expect(lines(s)).toEqual(["reviews: v1 90% → 50%, v2 10% → 50%"]);
    expect(s.destructive).toEqual([]);
    expect(s.other).toEqual([]);
    expect(s.noChanges).toBe(false);
    expect(md(s)).toBe(
      [
        "### Pulumi preview of stack `fixtures`",
        "",
        "**Routing**",
        "- reviews: v1 90% → 50%, v2 10% → 50%",
        "",
        "Nothing else changes.",
      ].join("\n"),
    );
  });

  test("the event stream of the same flip reads the same as the JSON document", () => {
    const doc = summaryOf("weight-flip.json");
    const stream = summaryOf("weight-flip.events.jsonl");
    expect({ ...stream, policyPacks: [] }).toEqual(doc);
  });

  test("a no-op preview says no changes", () => {
    const s = summaryOf("noop.json");
    expect(s.noChanges).toBe(true);
    expect(s.routing).toEqual([]);
    expect(text(s)).toBe("Pulumi preview of stack fixtures\n\nNo changes. Routing and every other resource stay as they are.");
    expect(md(s)).toContain("**No changes.**");
  });

  test("blue-green to v2: the canary pair becomes one destination, both sides shown", () => {
    expect(lines(summaryOf("blue-green.json"))).toEqual(["reviews: v1 90% → 0%, v2 10% → 100%"]);
  });

  test("faults, a timeout, retries and a header route, in words", () => {
    const s = summaryOf("fault-timeout-header.json");
    expect(lines(s)).toEqual([
      "ratings: delay none → 2s on 100%; abort none → HTTP 503 on 10%",
      'reviews: timeout none → 0.5s; retries none → 2 attempts of 0.2s; header route added: user-agent matches regex ".*iPhone.*" → v3 (timeout 0.5s, retries 2 attempts of 0.2s)',
    ]);
    expect(s.other).toEqual([]);
  });

  test("a namespace change: replaces named one by one, with the property that forces them, before anything else", () => {
    const s = summaryOf("replace.json");
    expect(s.destructive.every((c) => c.op === "replace")).toBe(true);
    expect(s.destructive).toHaveLength(19);
    expect(s.destructive.find((c) => c.type === "kubernetes:core/v1:Service" && c.name.endsWith("/reviews"))).toEqual({
      op: "replace",
      type: "kubernetes:core/v1:Service",
      name: "bookinfo/reviews → bookinfo-next/reviews",
      because: ["metadata.namespace"],
    });
    expect(lines(s)).toContain("reviews: replaced, routing unchanged (v1 90%, v2 10%)");
    const out = md(s);
    expect(out).toContain("**⚠️ Replaces (19): deleted and created again**");
    expect(out).toContain("- `kubernetes:core/v1:Namespace` × 1: bookinfo → bookinfo-next (forced by `metadata.name`)");
    expect(out.indexOf("Replaces")).toBeLessThan(out.indexOf("Nothing else is created or updated."));
  });

  test("a service dropped: its four objects are deletes, and its routes are said to go", () => {
    const s = summaryOf("delete.json");
    expect(s.destructive.map((c) => `${c.op} ${c.type} ${c.name}`).sort()).toEqual([
      "delete kubernetes:apps/v1:Deployment bookinfo/details-v1",
      "delete kubernetes:core/v1:Service bookinfo/details",
      "delete kubernetes:networking.istio.io/v1:DestinationRule bookinfo/details",
      "delete kubernetes:networking.istio.io/v1:VirtualService bookinfo/details",
    ]);
    expect(lines(s)).toEqual(["details: routes removed (were: v1 100%)"]);
    expect(text(s)).toContain("!! Deletes (4)");
  });

  test("a first preview of the project: every service's routes are new, other creates are counted by type", () => {
    const s = summaryOf("create.json");
    expect(lines(s).filter((l) => !l.startsWith("bookinfo:"))).toEqual([
      "details: new routes: v1 100%",
      "productpage: new routes: v1 100%",
      "ratings: new routes: v1 100%",
      "reviews: new routes: v1 90%, v2 10%",
    ]);
    expect(s.destructive).toEqual([]);
    const out = md(s);
    expect(out).toContain("`kubernetes:apps/v1:Deployment` × 6");
    // Components and the stack itself are not infrastructure: not counted.
    expect(out).not.toContain("pulumi:pulumi:Stack");
    expect(out).not.toContain("kubeadm-istio-lab:app:Bookinfo");
    expect(s.warnings.join("\n")).toMatch(/does not answer/);
  });

  test("policy violations of a production policy config: listed with their policy, and the preview counts as failed", () => {
    const s = summaryOf("policy-violations.events.jsonl");
    expect(s.succeeded).toBe(false);
    expect(s.violations.map((v) => `${v.level} ${v.policy}`).sort()).toEqual([
      "mandatory no-fault-injection-in-production",
      "mandatory no-nodeport-or-loadbalancer-in-production",
    ]);
    const out = md(s);
    expect(out).toContain("**Policy violations (2)**");
    expect(out).toContain("❌ preview failed");
    expect(out).toMatch(/- mandatory `no-fault-injection-in-production` on traffic-ratings-routes: VirtualService bookinfo\/ratings/);
    expect(lines(s)).toContain("ratings: new routes: v1 100%; delay 2s on 100%");
    // Components appear in the stream without `custom`: still not counted.
    expect(out).not.toContain("kubeadm-istio-lab:app:Bookinfo");
  });

  test("fixtures hold no credential and were not made with --show-secrets", () => {
    for (const f of fs.readdirSync(FIXTURES).filter((x) => /\.jsonl?$/.test(x))) {
      const body = fs.readFileSync(path.join(FIXTURES, f), "utf8");
      expect({ f, hit: /client-key|client-certificate-data|"token"|PRIVATE KEY|PULUMI_CONFIG_PASSPHRASE/i.test(body) }).toEqual({ f, hit: false });
    }
    expect(fs.readFileSync(path.join(FIXTURES, "create.json"), "utf8")).toContain('"kubeconfig": "[secret]"');
  });
});

describe("formats", () => {
  test("Markdown carries the marker for the workflow's comment; text has no markup", () => {
    const s = summaryOf("weight-flip.json");
    const m = renderSummary(s, { format: "md", marker: "preview: local", stack: "local" });
    expect(m[0]).toBe("<!-- preview: local -->");
    expect(m[1]).toBe("### Pulumi preview of stack `local`");
    expect(text(s)).not.toMatch(/[*`#]/);
  });
});

describe("a preview that failed before listing anything", () => {
  test("says so instead of claiming no changes", () => {
    const failed = parsePreview(JSON.stringify({ steps: [], diagnostics: [{ severity: "error", message: "error: program failed: bad config\n" }] }));
    const out = renderSummary(summarize(failed), { format: "text", stack: "dev" }).join("\n");
    expect(out).toBe(
      [
        "Pulumi preview of stack dev (preview FAILED)",
        "",
        "The preview stopped before it listed any change; the errors below say why.",
        "",
        "Errors",
        "  program failed: bad config",
      ].join("\n"),
    );
  });
});

describe("routing words (pure)", () => {
  const route = (dests: [string, number?][], extra: object = {}) => ({
    name: "default",
    route: dests.map(([subset, weight]) => ({ destination: { host: "reviews", subset }, ...(weight === undefined ? {} : { weight }) })),
    ...extra,
  });
  const spec = (...http: object[]) => ({ hosts: ["reviews"], http });

  test("one unweighted destination carries 100%", () => {
    expect(describeRouting(spec(route([["v3"]])))).toBe("v3 100%");
  });

  test("a weight pair to the same split is no change; unchanged destinations keep one number", () => {
    expect(describeRoutingChange(spec(route([["v1", 50], ["v2", 50]])), spec(route([["v1", 50], ["v2", 50]])))).toEqual([]);
    expect(describeRoutingChange(spec(route([["v1", 50], ["v2", 50]])), spec(route([["v1", 50], ["v2", 25], ["v3", 25]])))).toEqual([
      "v1 50%, v2 50% → 25%, v3 0% → 25%",
    ]);
  });

  test("header routes removed and changed; an exact and a prefix match", () => {
    const h = (value: object, subset: string) => ({ name: "header-0-end-user", match: [{ headers: { "end-user": value } }], route: [{ destination: { host: "reviews", subset } }] });
    const def = route([["v1"]]);
    expect(describeRoutingChange(spec(h({ exact: "jason" }, "v2"), def), spec(def))).toEqual(['header route removed: end-user is "jason" → v2']);
    expect(describeRoutingChange(spec(h({ exact: "jason" }, "v2"), def), spec(h({ prefix: "ja" }, "v3"), def))).toEqual([
      'header route changed: end-user is "jason" → v2 ⇒ end-user starts with "ja" → v3',
    ]);
  });

  test("timeouts and faults removed; a change the words do not cover is still reported", () => {
    const withPolicy = route([["v1"]], { timeout: "1s", fault: { abort: { percentage: { value: 5 }, httpStatus: 500 } } });
    expect(describeRoutingChange(spec(withPolicy), spec(route([["v1"]])))).toEqual(["timeout 1s → none", "abort HTTP 500 on 5% → none"]);
    expect(describeRoutingChange(spec(route([["v1"]])), { ...spec(route([["v1"]])), hosts: ["reviews", "reviews.example"] })).toEqual([
      "other route settings changed",
    ]);
  });

  test("types from URNs, with and without a parent type", () => {
    expect(typeFromUrn("urn:pulumi:s::p::a:b:C$kubernetes:core/v1:Service::svc")).toBe("kubernetes:core/v1:Service");
    expect(typeFromUrn("urn:pulumi:s::p::pulumi:pulumi:Stack::p-s")).toBe("pulumi:pulumi:Stack");
  });

  test("text that is no preview output is refused with the reason", () => {
    expect(() => parsePreview("")).toThrow(/empty preview output/);
    expect(() => parsePreview("error: no stack named 'x' found\n")).toThrow(/line 1 .* not JSON/);
  });
});

describe("routing from config only (pull requests from forks)", () => {
  const base: RawConfig = {
    cluster: { provision: false, kubeconfigPath: "k" },
    istio: { install: false },
    traffic: { reviews: { canary: "v2", weight: 10 } },
    hasSshPrivateKey: false,
    hasKubeconfig: true,
  };
  test("reads like the preview of the same change", () => {
    const after = { ...base, traffic: { reviews: { canary: "v2", weight: 50 } } };
    expect(configRoutingChanges(parseLabConfig(base), parseLabConfig(after))).toEqual(summaryOf("weight-flip.json").routing);
  });
  test("a new stack: every service's routes are new", () => {
    expect(configRoutingChanges(undefined, parseLabConfig(base)).map((r) => r.line)).toEqual([
      "details: new routes: v1 100%",
      "productpage: new routes: v1 100%",
      "ratings: new routes: v1 100%",
      "reviews: new routes: v1 90%, v2 10%",
    ]);
  });
});

describe("which stacks a workflow works on", () => {
  test("a stack file touches its stack; a program file touches every stack", () => {
    expect(touchedStacks(["Pulumi.dev.yaml", "README.md"], ["dev", "local"])).toEqual(["dev"]);
    expect(touchedStacks(["components/bookinfo.ts"], ["local", "dev"])).toEqual(["dev", "local"]);
    expect(touchedStacks(["README.md", "Pulumi.gone.yaml"], ["dev", "local"])).toEqual([]);
  });
  test("ci:deployOnMain declares a stack deployed from CI", () => {
    expect(declaresDeploy("config:\n  ci:deployOnMain: true\n")).toBe(true);
    expect(declaresDeploy('config:\n  ci:deployOnMain: "true"\n')).toBe(true);
    expect(declaresDeploy("config:\n  kubeadm-istio-lab:traffic: {}\n")).toBe(false);
  });
});

describe("the command", () => {
  let out: string;
  let err: string;
  beforeEach(() => {
    out = "";
    err = "";
    jest.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    jest.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
  });
  afterEach(() => jest.restoreAllMocks());

  test("--from a saved preview: prints the summary, exit 0; exit 1 when the preview failed", () => {
    expect(main(["--from", path.join(FIXTURES, "weight-flip.json"), "--format", "text"])).toBe(0);
    expect(out).toContain("  reviews: v1 90% → 50%, v2 10% → 50%\n");
    expect(main(["--from", path.join(FIXTURES, "policy-violations.events.jsonl"), "--format", "md"])).toBe(1);
    expect(out).toContain("**Policy violations (2)**");
  });

  test("bad arguments: exit 2 with the reason", () => {
    expect(main([])).toBe(2);
    expect(err).toMatch(/--stack NAME/);
    expect(main(["--stack", "local", "--format", "html"])).toBe(2);
    expect(() => parseArgs(["--stack"])).toThrow(/needs a value/);
  });
});
