import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import type { ClusterSpec } from "../config/schema";
import { encryptionKeyFromPassword } from "../specs/apiServer";
import {
  caCertHashScript,
  drainNodeScript,
  hostPort,
  initStdin,
  joinStdin,
  joinTokenScript,
  tokenStdin,
  kubeadmInitScript,
  kubeadmJoinScript,
  joinedScript,
  kubeadmResetScript,
  NODES_READY_TIMEOUT_SECONDS,
  nodesReadyScript,
  readKubeconfigScript,
} from "../specs/scripts";
import { DebianNode } from "./debianNode";

export type KubeadmClusterArgs =
  | {
      /** Build the cluster with kubeadm on these machines. */
      provision: true;
      cluster: ClusterSpec;
      /** kubeadm's imageRepository (sources.imageRepository). */
      imageRepository: string;
      controlPlane: DebianNode;
      workers: DebianNode[];
    }
  | {
      /** Use an existing cluster: no nodes, no kubeadm, no CNI; only a provider. */
      provision: false;
      /** Its kubeconfig (secret). */
      kubeconfig: pulumi.Input<string>;
      /** Context to use; the kubeconfig's current context when absent. */
      context?: string;
    };

const secretCommandOutputs = { additionalSecretOutputs: ["stdout", "stderr"] };

/**
 * A Kubernetes cluster and the provider that talks to it: `kubeadm init` on the control plane, workers
 * joined in parallel with a bootstrap token made here, `kubeadm reset` on destroy; or an existing
 * cluster's kubeconfig when provisioning is off.
 */
export class KubeadmCluster extends pulumi.ComponentResource {
  /** Admin kubeconfig (secret). */
  readonly kubeconfig: pulumi.Output<string>;
  /** Provider for every Kubernetes resource of the program. */
  readonly provider: k8s.Provider;
  /** Resources that must exist before workloads can be scheduled on the workers. */
  readonly workersJoined: pulumi.Resource[];
  /** The control plane and every node's name, for steps that run after the cluster (waitForReadyNodes). */
  private readonly members?: { controlPlane: DebianNode; nodeNames: string[]; name: string };

  constructor(name: string, args: KubeadmClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubeadm-istio-lab:cluster:KubeadmCluster", name, {}, opts);

    if (!args.provision) {
      this.kubeconfig = pulumi.secret(args.kubeconfig);
      this.provider = new k8s.Provider(
        `${name}-provider`,
        { kubeconfig: this.kubeconfig, context: args.context },
        { parent: this },
      );
      this.workersJoined = [];
      this.registerOutputs({ kubeconfig: this.kubeconfig });
      return;
    }

    const { cluster, controlPlane, workers } = args;
    if (controlPlane.role !== "controlPlane") {
      throw new pulumi.ResourceError(`node ${controlPlane.name} is not a control-plane node`, this);
    }

    // kubeadm's token format is "[a-z0-9]{6}.[a-z0-9]{16}"; RandomPassword keeps both parts secret.
    const tokenPart = (part: string, length: number) =>
      new random.RandomPassword(`${name}-token-${part}`, { length, upper: false, special: false }, { parent: this });
    const token = pulumi.secret(pulumi.interpolate`${tokenPart("id", 6).result}.${tokenPart("secret", 16).result}`);
    // The key Secrets are encrypted with in etcd, made once with the cluster. RandomPassword and not
    // RandomBytes, whose ID (in plain text in the state) is its value: 32 bytes as SHA-256 of 64 characters.
    const encryptionPassword = new random.RandomPassword(`${name}-encryption-key`, { length: 64, special: false }, { parent: this });
    const encryptionKey = pulumi.secret(encryptionPassword.result.apply(encryptionKeyFromPassword));

    const init = new command.remote.Command(
      `${name}-init`,
      {
        connection: controlPlane.connection,
        create: kubeadmInitScript({
          nodeName: controlPlane.name,
          advertiseAddress: controlPlane.address,
          apiServerPort: cluster.apiServerPort,
          podCidr: cluster.podCidr,
          serviceCidr: cluster.serviceCidr,
          imageRepository: args.imageRepository,
          allowCgroupV1: cluster.allowCgroupV1,
          kubeProxyConntrackMaxPerCore: cluster.kubeProxyConntrackMaxPerCore,
        }),
        // The secrets go on stdin: a failed command's error quotes its script, never its stdin.
        stdin: pulumi.secret(pulumi.all([token, encryptionKey]).apply(([t, key]) => initStdin({ token: t, encryptionKey: key }))),
        delete: kubeadmResetScript(),
        logging: "stderr",
      },
      { parent: this, dependsOn: [controlPlane.ready], ...secretCommandOutputs },
    );

    const readBack = (what: string, script: string) =>
      new command.remote.Command(
        `${name}-${what}`,
        { connection: controlPlane.connection, create: script, logging: "none", triggers: [init.id] },
        { parent: this, dependsOn: [init], ...secretCommandOutputs },
      ).stdout.apply((s) => s.trim());
    this.kubeconfig = pulumi.secret(readBack("kubeconfig", readKubeconfigScript()));
    const caCertHash = pulumi.secret(readBack("ca-cert-hash", caCertHashScript()));

    const endpoint = hostPort(controlPlane.address, cluster.apiServerPort);
    // Workers depend on init and on their own packages only, never on each other: they join in parallel.
    // Each worker joins with a token of its own, made on the control plane just before its join and
    // deleted once it joined: a worker added months later joins the same way, and no token outlives a join.
    this.workersJoined = workers.map((worker) => {
      const workerToken = pulumi.secret(
        pulumi.interpolate`${tokenPart(`${worker.name}-id`, 6).result}.${tokenPart(`${worker.name}-secret`, 16).result}`,
      );
      const tokenStep = new command.remote.Command(
        `${name}-join-token-${worker.name}`,
        { connection: controlPlane.connection, create: joinTokenScript(worker.name), stdin: workerToken.apply(tokenStdin), logging: "stderr" },
        { parent: this, dependsOn: [init, worker.ready], ...secretCommandOutputs },
      );
      const join = new command.remote.Command(
        `${name}-join-${worker.name}`,
        {
          connection: worker.connection,
          create: kubeadmJoinScript({ nodeName: worker.name, controlPlaneEndpoint: endpoint, allowCgroupV1: cluster.allowCgroupV1 }),
          stdin: pulumi.secret(pulumi.all([workerToken, caCertHash]).apply(([t, hash]) => joinStdin({ token: t, caCertHash: hash }))),
          delete: kubeadmResetScript(),
          logging: "stderr",
        },
        { parent: this, dependsOn: [worker.ready, init, tokenStep], ...secretCommandOutputs },
      );
      // Destroy runs in reverse: this drain (on the control plane) goes before the worker's reset.
      return new command.remote.Command(
        `${name}-drain-${worker.name}`,
        {
          connection: controlPlane.connection,
          create: joinedScript(worker.name),
          stdin: workerToken.apply(tokenStdin),
          delete: drainNodeScript(worker.name),
          logging: "stderr",
        },
        { parent: this, dependsOn: [join], ...secretCommandOutputs },
      );
    });

    this.provider = new k8s.Provider(`${name}-provider`, { kubeconfig: this.kubeconfig }, { parent: this });
    this.members = { controlPlane, nodeNames: [controlPlane, ...workers].map((n) => n.name), name };
    this.registerOutputs({ kubeconfig: this.kubeconfig });
  }

  /**
   * On a cluster built here, one step per node on the control plane after the CNI that waits until the
   * node is Ready, and otherwise fails naming it and its condition. One per node, so a node added later
   * adds a step of its own and changes no other. Nothing on an existing cluster.
   */
  waitForReadyNodes(cni: pulumi.Resource[], cniPods: string): pulumi.Resource[] {
    if (this.members === undefined) return [];
    const { controlPlane, nodeNames, name } = this.members;
    return nodeNames.map(
      (node) =>
        new command.remote.Command(
          `${name}-ready-${node}`,
          { connection: controlPlane.connection, create: nodesReadyScript({ nodeNames: [node], timeoutSeconds: NODES_READY_TIMEOUT_SECONDS, cniPods }), logging: "stdoutAndStderr" },
          { parent: this, dependsOn: [...cni, ...this.workersJoined] },
        ),
    );
  }
}
