// Runs the whole program against Pulumi's mock monitor and records every resource: its type, name,
// inputs (with secretness), provider and explicit dependencies, so tests can assert on the graph.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";

export const PROJECT = "kubeadm-istio-lab";
export const ROOT = path.resolve(__dirname, "..", "..");

export interface Recorded {
  type: string;
  name: string;
  urn: string;
  inputs: Record<string, unknown>;
  provider?: string;
  /** Names of explicit dependsOn resources. */
  dependsOn: string[];
  /** Name of the parent resource (component), if any. */
  parent?: string;
  /** Outputs the resource's options mark secret. */
  additionalSecretOutputs: string[];
}

export interface ProgramRun {
  resources: Recorded[];
  outputs: Record<string, unknown>;
  warnings: string[];
  byType(type: string): Recorded[];
  get(name: string): Recorded;
  /** Every resource `name` waits for: explicit dependsOn, parents' dependsOn, and providers, transitively. */
  dependenciesOf(name: string): Set<string>;
  /**
   * The transforms each resource's options name, by resource name: the engine applies them to the
   * resource and its children; the mock monitor only hands them over.
   */
  transforms: Map<string, pulumi.ResourceTransform[]>;
}

/** A stack file's config as plain values keyed without the project prefix ("traffic", "nodes"...). */
export function stackConfig(stack: string): Record<string, unknown> {
  const doc = parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
  return Object.fromEntries(Object.entries(doc.config).map(([k, v]) => [k.replace(`${PROJECT}:`, ""), v]));
}

/** The SDK's wait for its outstanding RPCs (runtime `waitForRPCs`, left out of its declared types). */
function waitForRpcs(): Promise<void> {
  const wait = (pulumi.runtime as unknown as { waitForRPCs?: unknown }).waitForRPCs;
  if (typeof wait !== "function") throw new Error("@pulumi/pulumi's runtime no longer has waitForRPCs: update the harness");
  return (wait as () => Promise<void>)();
}

function unwrap<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}

function nameFromUrn(urn: string): string {
  return urn.split("::").pop() ?? urn;
}

export async function runProgram(
  config: Record<string, unknown>,
  opts: {
    preview?: boolean;
    secretKeys?: string[];
    /** Keys of other namespaces, e.g. "kubernetes:foo". */
    otherConfig?: Record<string, string>;
    /** Receives every resource as it is registered, also when the program then fails. */
    recorded?: Recorded[];
    /** The stack's outputs of its last update, as the program reads them back. */
    previousOutputs?: Record<string, unknown>;
  } = {},
): Promise<ProgramRun> {
  const resources: Recorded[] = opts.recorded ?? [];
  const providers = new Map<string, string>();
  const registered = new Set<string>();
  const pending: Promise<void>[] = [];
  const warnings: string[] = [];
  const values: Record<string, string> = {};
  const transforms = new Map<string, pulumi.ResourceTransform[]>();
  for (const [k, v] of Object.entries(config)) values[`${PROJECT}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
  Object.assign(values, opts.otherConfig ?? {});
  pulumi.runtime.setAllConfig(values, (opts.secretKeys ?? []).map((k) => `${PROJECT}:${k}`));

  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const id = args.id ?? `${args.name}-id`;
        registered.add(args.name);
        if (args.transforms !== undefined && args.transforms.length > 0) transforms.set(args.name, args.transforms);
        if (args.provider) providers.set(args.name, args.provider);
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:remote:Command") state.stdout = `stdout-of-${args.name}`;
        if (args.type === "random:index/randomPassword:RandomPassword") state.result = "a".repeat(Number(args.inputs.length));
        if (args.type === "random:index/randomBytes:RandomBytes") state.hex = "0".repeat(Number(args.inputs.length) * 2);
        return { id, state };
      },
      // The engine's builtin read of the stack's own last outputs; every other call answers nothing.
      call: (args: pulumi.runtime.MockCallArgs) =>
        args.token === "pulumi:pulumi:readStackOutputs" ? { name: args.inputs.name, outputs: opts.previousOutputs ?? {} } : {},
    },
    PROJECT,
    "test",
    opts.preview ?? true,
    "organization",
  );

  const byName = new Map<string, Recorded>();
  const realWarn = pulumi.log.warn;
  pulumi.log.warn = (msg: string) => { warnings.push(msg); return Promise.resolve(); };
  let outputs: Record<string, unknown> = {};
  let failure: unknown;
  let captured: Record<string, unknown> = {};
  try {
    const stackOutputs = await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((t) => {
        const record: Recorded = {
          type: t.type,
          name: t.name,
          urn: "",
          inputs: {},
          dependsOn: [],
          // Only custom resources carry the option; components have none.
          additionalSecretOutputs: (t.opts as pulumi.CustomResourceOptions).additionalSecretOutputs ?? [],
        };
        const deps = t.opts.dependsOn;
        const list = (Array.isArray(deps) ? deps : deps ? [deps] : []) as pulumi.Resource[];
        if (t.opts.parent) pending.push(unwrap(t.opts.parent.urn).then((u) => { record.parent = nameFromUrn(u); }));
        pending.push(
          Promise.all(list.map((d) => unwrap(d.urn))).then((urns) => { record.dependsOn = urns.map(nameFromUrn); }),
        );
        record.inputs = t.props;
        resources.push(record);
        byName.set(t.name, record);
        return undefined;
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const program = require(path.join(ROOT, "index.ts")) as () => Promise<Record<string, unknown>>;
      // The stack swallows nothing but reports a failed program as an unhandled rejection: catch it here.
      try {
        captured = await program();
        return captured;
      } catch (e) {
        failure = e;
        return {};
      }
    });
    if (failure !== undefined) throw failure;
    // Resources whose dependencies resolve late register after the program returns: wait for them.
    await pulumi.runtime.awaitStackRegistrations();
    // Some registrations (those behind dependsOn) still trail it: wait for the SDK's RPCs to drain, not
    // for a while, which a busy machine can outlast.
    await waitForRpcs();
    const unregistered = resources.filter((r) => !registered.has(r.name)).map((r) => r.name);
    if (unregistered.length > 0) throw new Error(`resources never reached the mock monitor: ${unregistered.join(", ")}`);
    await Promise.all(pending);
    for (const r of resources) r.provider = providers.get(r.name);
    // The program's own return value keeps Outputs (and so their secretness); the stack's is plain.
    outputs = stackOutputs === undefined ? {} : captured;
  } finally {
    // A failed program still has RPCs in flight (the stack's outputs): let them reach this run's mock
    // monitor, or they reach the next run's, which does not know this stack.
    await waitForRpcs();
    pulumi.log.warn = realWarn;
  }

  // Providers are passed to children through the component's `providers` option.
  const run: ProgramRun = {
    resources,
    outputs,
    warnings,
    transforms,
    byType: (type) => resources.filter((r) => r.type === type),
    get: (name) => {
      const r = byName.get(name);
      if (!r) throw new Error(`no resource named ${name}; have: ${resources.map((x) => x.name).join(", ")}`);
      return r;
    },
    dependenciesOf(name) {
      const seen = new Set<string>();
      const add = (d: string) => {
        if (seen.has(d)) return;
        seen.add(d);
        // Depending on a component means waiting for all of its children.
        for (const child of resources.filter((c) => c.parent === d)) add(child.name);
        for (const next of byName.get(d)?.dependsOn ?? []) add(next);
      };
      for (const d of byName.get(name)?.dependsOn ?? []) add(d);
      return seen;
    },
  };
  return run;
}

/** Resolves an Output (or plain value) and reports whether it was secret. */
export async function resolve(value: unknown): Promise<{ value: unknown; secret: boolean }> {
  if (pulumi.Output.isInstance(value)) {
    const o = value as pulumi.Output<unknown>;
    const secret = await pulumi.isSecret(o);
    return { value: await unwrap(o), secret };
  }
  return { value, secret: false };
}

/**
 * An input's value once it is known, or `unknown` when the engine would send it as unknown (in a
 * preview: ids and outputs of resources not created yet). Decided by the Output's own known flag, not
 * by a timer: a slow machine must not turn a known value into an unknown one.
 */
export async function knownValue<T>(input: pulumi.Input<T>, unknown: T): Promise<T> {
  const output = pulumi.output(input);
  // The SDK's Output carries `isKnown: Promise<boolean>`; its declared type leaves it out.
  const isKnown = (output as unknown as { isKnown?: unknown }).isKnown;
  if (!(isKnown instanceof Promise)) throw new Error("@pulumi/pulumi's Output no longer has isKnown: update knownValue");
  if (!(await (isKnown as Promise<boolean>))) return unknown;
  return unwrap(output as pulumi.Output<T>);
}
