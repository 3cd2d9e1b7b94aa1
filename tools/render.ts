// Prints, as YAML, the Istio objects the program registers for a stack (same pure builders as the
// components): the input for `istioctl validate` / `analyze` and for the Envoy route checks.
//   npm run render -- --stack dev
import * as path from "path";
import { stringify } from "yaml";
import { LabConfig } from "../config/schema";
import { buildGateway, buildIngressRoutes, buildMeshPeerAuthentication, buildTrafficObjects } from "../specs/routes";
import { readStackConfig, stackArg } from "./stackConfig";
import { runTool } from "./cli";

export function renderIstioObjects(config: LabConfig): object[] {
  const ns = config.bookinfo.namespace;
  const { destinationRules, virtualServices } = buildTrafficObjects(config.traffic, ns);
  return [
    buildMeshPeerAuthentication(config.istio.mtls),
    buildGateway(ns),
    buildIngressRoutes(ns, config.traffic.productpage),
    ...destinationRules,
    ...virtualServices,
  ];
}

export function toYaml(objects: object[]): string {
  return objects.map((o) => stringify(o)).join("---\n");
}

if (require.main === module) {
  runTool("render", () => {
    const stack = stackArg(process.argv) ?? "dev";
    process.stdout.write(toYaml(renderIstioObjects(readStackConfig(path.resolve(__dirname, ".."), stack))));
  });
}
