import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { NodeSpec, SourcesSpec } from "../config/schema";
import { containerRuntimeScript, kubePackagesScript, prepareHostScript } from "../specs/scripts";

export interface DebianNodeArgs {
  /** The machine: name, role, address, SSH port, user and host key (validated stack config). */
  node: NodeSpec;
  /** SSH private key for `node.user`; kept secret. */
  privateKey: pulumi.Input<string>;
  /** Kubernetes minor version whose kubeadm, kubelet and kubectl are installed, e.g. "1.34". */
  kubernetesVersion: string;
  /** cluster.allowCgroupV1: accept a machine still on cgroup v1. */
  allowCgroupV1: boolean;
  /** Where packages and images come from (public repositories, or the user's mirrors). */
  sources: SourcesSpec;
}

/**
 * One Debian machine made ready for kubeadm over SSH: host preparation, the pinned Kubernetes
 * packages, and containerd. Each step is a remote command whose script is its only input, so it re-runs
 * exactly when its script (or the versions baked into it) changes.
 */
export class DebianNode extends pulumi.ComponentResource {
  readonly name: string;
  readonly role: NodeSpec["role"];
  readonly address: string;
  /** SSH connection for later steps (kubeadm init/join) on this machine; the key is secret. */
  readonly connection: command.types.input.remote.ConnectionArgs;
  /** The last provisioning step: depend on it to run after the node is ready for kubeadm. */
  readonly ready: command.remote.Command;

  constructor(name: string, args: DebianNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubeadm-istio-lab:cluster:DebianNode", name, {}, opts);
    const { node } = args;
    this.name = node.name;
    this.role = node.role;
    this.address = node.address;
    this.connection = {
      host: node.address,
      port: node.port,
      user: node.user,
      privateKey: pulumi.secret(args.privateKey),
      // The pinned key: the provider refuses a server that presents any other (config requires it
      // unless the stack opted out, and then warns).
      ...(node.hostKey === undefined ? {} : { hostKey: node.hostKey }),
      // A machine that is still booting gets a few tries; an unreachable one fails in about a minute.
      dialErrorLimit: 4,
      perDialTimeout: 15,
    };

    const prepare = new command.remote.Command(
      `${name}-prepare-host`,
      { connection: this.connection, create: prepareHostScript({ kubernetesVersion: args.kubernetesVersion, allowCgroupV1: args.allowCgroupV1 }) },
      { parent: this },
    );
    // The packages first: containerd's sandbox image is the pause image the installed kubeadm names.
    const packages = new command.remote.Command(
      `${name}-kube-packages`,
      { connection: this.connection, create: kubePackagesScript(args.kubernetesVersion, args.sources.kubernetes) },
      { parent: this, dependsOn: [prepare] },
    );
    this.ready = new command.remote.Command(
      `${name}-containerd`,
      { connection: this.connection, create: containerRuntimeScript(args.sources) },
      { parent: this, dependsOn: [packages] },
    );
    this.registerOutputs({ address: this.address, role: this.role });
  }
}
