// Istio's Helm releases as the program declares them, for an istiod in the cluster (the default) and
// for an external istiod (the local stack's, on 127.0.0.1), and the local stack's pins.
import * as fs from "fs";
import * as path from "path";
import { parseLabConfig, RawConfig } from "../../config/schema";
import { istioReleases } from "../../specs/istio-install";
import { ROOT, stackConfig } from "./harness";

const local: RawConfig = { ...stackConfig("local"), hasSshPrivateKey: false, hasKubeconfig: false };
const dev: RawConfig = { ...stackConfig("dev"), hasSshPrivateKey: true, hasKubeconfig: false };
const shellValue = (file: string, key: string): string => {
  const m = new RegExp(`\\b${key}=(\\S+)`).exec(fs.readFileSync(path.join(ROOT, "scripts", file), "utf8"));
  if (m === null) throw new Error(`no ${key} in scripts/${file}`);
  return m[1];
};

test("istiod in the cluster: no webhook URL in the values, the charts' own Service is used", () => {
  const r = istioReleases(parseLabConfig(dev).istio);
  expect(r.base.values).toEqual({ defaultRevision: "default" });
  expect(r.istiod.values).not.toHaveProperty("istiodRemote");
  expect([r.base.version, r.istiod.version, r.gateway.version]).toEqual(["1.29.0", "1.29.0", "1.29.0"]);
});

test("an external istiod: the API server is sent to its /validate and /inject, the chart installs no istiod", () => {
  const r = istioReleases(parseLabConfig(local).istio);
  expect(r.base.values).toEqual({ defaultRevision: "default", base: { validationURL: "https://127.0.0.1:15017/validate" } });
  expect(r.istiod.values.istiodRemote).toEqual({ enabled: true, injectionURL: "https://127.0.0.1:15017/inject" });
  // Not the remote profile: it would omit the injector ConfigMap that the external istiod reads.
  expect(r.istiod.values).not.toHaveProperty("profile");
  expect(r.gateway.values).not.toHaveProperty("istiodRemote");
});

test("the local stack installs the charts scripts/toolchain.sh packages, from where scripts/local.sh serves them", () => {
  const istio = parseLabConfig(local).istio;
  expect(istio.install).toBe(true);
  expect(istio.version).toBe(shellValue("versions.env", "ISTIO_CHART_VERSION"));
  expect(istio.chartRepository).toBe(`http://127.0.0.1:${shellValue("local.sh", "LAB_ISTIO_CHARTS_PORT")}`);
  expect(istio.externalIstiod).toEqual({ webhookUrl: `https://127.0.0.1:${shellValue("local.sh", "LAB_ISTIOD_WEBHOOK_PORT")}` });
  const releases = istioReleases(istio);
  expect([releases.base, releases.istiod, releases.gateway].map((r) => [r.chart, r.repository])).toEqual([
    ["base", istio.chartRepository], ["istiod", istio.chartRepository], ["gateway", istio.chartRepository],
  ]);
});
