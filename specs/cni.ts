// What every CNI's DaemonSet needs alike, whichever CNI it is (specs/weave.ts, specs/flannel.ts).
import type * as k8s from "@pulumi/kubernetes";
import type { CniName } from "../config/schema";

/** A volume from a path on the node. */
export const hostPath = (name: string, path: string, type?: string): k8s.types.input.core.v1.Volume => ({ name, hostPath: type ? { path, type } : { path } });

/** The CNI must run on every node, the control plane included, before anything else can. */
export const everyNode: k8s.types.input.core.v1.Toleration[] = [
  { effect: "NoSchedule", operator: "Exists" },
  { effect: "NoExecute", operator: "Exists" },
];

/** The command that lists a CNI's pods, named when nodes do not become Ready. */
export function cniPodsCommand(cni: CniName): string {
  return cni === "weave" ? "kubectl -n kube-system get pods -l name=weave-net -o wide" : "kubectl -n kube-flannel get pods -o wide";
}
