// Bad input beyond the listed cases: random stack configs, and the committed stacks' configs mutated at
// random (a value replaced, retyped or emptied, a key dropped, mistyped or added). Each one is either
// accepted, or refused with a ConfigError whose every problem names a config key; never another
// exception, never a stack trace, and (run as the whole program under Pulumi's mocks) never a resource
// registered before the refusal.
//
// Inputs tried per run (fixed seed, so CI sees the same inputs every time; set CONFIG_PROPERTY_SEED to
// explore others, CONFIG_PROPERTY_SCALE to multiply the counts):
//   loadConfig (the edge, as the engine hands values over): 800 random + 1200 mutated configs;
//   the whole program under mocks: 120 mutated + 40 random configs.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as fc from "fast-check";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "../../config/load";
import { CONFIG_KEYS, ConfigError } from "../../config/schema";
import { PROJECT, Recorded, runProgram, stackConfig } from "./harness";

jest.setTimeout(300_000);

const SEED = Number(process.env.CONFIG_PROPERTY_SEED ?? 20261202);
const SCALE = Number(process.env.CONFIG_PROPERTY_SCALE ?? 1);
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));
const COUNTS = { loadRandom: runs(800), loadMutated: runs(1200), programMutated: runs(120), programRandom: runs(40) };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Values = Record<string, Json>;
type Path = (string | number)[];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lab-config-property-"));
const keyPath = path.join(tmp, "id_test");
const kubeconfigPath = path.join(tmp, "kubeconfig");
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
fs.writeFileSync(keyPath, "test-key", { mode: 0o600 });
// Port 1 on loopback: nothing listens, so the program's reachability check fails at once.
fs.writeFileSync(
  kubeconfigPath,
  `apiVersion: v1
current-context: local
contexts: [{name: local, context: {cluster: local, user: admin}}]
clusters: [{name: local, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: admin, user: {token: t}}]
`,
);

// -------------------------------------------------------------------------------------------------
// Valid starting points: the committed stacks, and one that sets every kind of value the schema has.

const dev = { ...stackConfig("dev"), sshPrivateKeyPath: keyPath } as Values;
const local = { ...stackConfig("local"), cluster: { provision: false, kubeconfigPath, reachabilityTimeoutSeconds: 1 } } as Values;
const rich: Values = {
  ...dev,
  cluster: { provision: true, kubernetesVersion: "1.33", podCidr: "10.32.0.0/16", serviceCidr: "10.96.0.0/12", apiServerPort: 6443, reachabilityTimeoutSeconds: 2 },
  istio: { install: true, version: "1.29.0", hub: "mirror.example:5000/istio", mtls: "PERMISSIVE", ingressNodePort: 31081, addons: { prometheus: true, kiali: false } },
  bookinfo: { namespace: "shop", imageRegistry: "mirror.example:5000/istio", imageTag: "1.20.3", images: { "reviews-v2": "mirror.example/reviews:2" }, nodePort: false, replicas: 2, host: "shop.example" },
  weave: { version: "2.8.1", registry: "mirror.example:5000/weaveworks" },
  sources: {
    containerd: { aptUrl: "https://mirror.example/docker", suite: "bookworm", component: "stable", package: "containerd.io", keyFingerprint: "9dc8 5822 9fc7 dd38 854a  e2d8 8d81 803c 0ebf cd88" },
    kubernetes: { aptUrl: "https://mirror.example/k8s/v{minor}/deb/" },
    imageRepository: "mirror.example:5000/k8s",
    registryMirrors: { "docker.io": "https://mirror.example:5000" },
  },
  traffic: {
    reviews: {
      canary: "v2",
      weight: 10,
      timeout: "2s",
      retries: { attempts: 2, perTryTimeout: "500ms", retryOn: "5xx,connect-failure" },
      headerRoutes: [
        { header: "user-agent", regex: ".*iPhone.*", version: "v3", timeout: "1s" },
        { header: "end-user", exact: "jason", version: "v2" },
      ],
    },
    ratings: { fault: { delay: { fixedDelay: "2s", percent: 50 }, abort: { httpStatus: 503, percent: 10 } } },
    productpage: { active: "v1" },
    details: { strategy: "blueGreen", active: "v1" },
  },
};
const BASES: [string, Values][] = [["dev", dev], ["local", local], ["rich", rich]];

// Names the schema knows at some level, so random and mutated keys are often almost right.
const FIELD_NAMES = [
  ...CONFIG_KEYS, "provision", "kubernetesVersion", "podCidr", "serviceCidr", "apiServerPort", "kubeconfigPath", "context",
  "reachabilityTimeoutSeconds", "install", "version", "chartRepository", "hub", "mtls", "ingressNodePort", "addons", "prometheus",
  "namespace", "imageRegistry", "imageTag", "images", "nodePort", "replicas", "host", "registry", "kubeImage", "npcImage",
  "containerd", "kubernetes", "aptUrl", "keyUrl", "keyFingerprint", "imageRepository", "registryMirrors", "reviews", "ratings", "details",
  "productpage", "strategy", "active", "stable", "canary", "weight", "headerRoutes", "header", "exact", "regex", "timeout",
  "retries", "attempts", "perTryTimeout", "retryOn", "fault", "delay", "fixedDelay", "percent", "abort", "httpStatus",
  "name", "role", "address", "port", "user", "hostKey", "insecureSkipHostKeyCheck", "__proto__", "constructor", "toString",
];

// -------------------------------------------------------------------------------------------------
// Arbitraries

const scalar: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>("", " ", "v1", "v2", "v3", "v4", "canary", "blueGreen", "STRICT", "1.34", "1.3", "10.0.0.0/16", "0.5s",
    "0s", "-1", "latest", "192.0.2.300", "::1", "null", "{}", "[]", "true", "{\"a\":", "~/nope", ".*(?=x)", "https://", 0, -1, 100,
    101, 30080, 65536, 1e21, 0.5, -0, true, false, null),
  fc.integer({ min: -10, max: 70_000 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 12 }),
);
const key = fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 10 }));
const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("v"), { maxLength: 3 }),
    fc.dictionary(key, tie("v"), { maxKeys: 4 }),
  ),
})).v;

/** A whole config of random keys (mostly the project's) and values. */
const randomConfig: fc.Arbitrary<Values> = fc.dictionary(
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...CONFIG_KEYS) }, { weight: 1, arbitrary: key }),
  value,
  { minKeys: 0, maxKeys: 6 },
);

interface Mutation {
  kind: "replace" | "remove" | "renameKey" | "addKey" | "retype" | "empty";
  at: number;
  value: Json;
  key: string;
  typo: number;
}
const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom("replace", "remove", "renameKey", "addKey", "retype", "empty"),
  at: fc.nat(),
  value,
  key,
  typo: fc.nat(),
});
const mutated: fc.Arbitrary<{ base: string; values: Values; mutations: Mutation[] }> = fc
  .record({ base: fc.constantFrom(...BASES.map(([n]) => n)), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) })
  .map(({ base, mutations }) => {
    const start = BASES.find(([n]) => n === base)?.[1] ?? dev;
    return { base, mutations, values: mutations.reduce((v, m) => mutate(v, m), start) };
  });

/** Every path into the config (top-level keys, nested keys, list items). */
function pathsOf(v: Json, prefix: Path = []): Path[] {
  if (v === null || typeof v !== "object") return [];
  const entries: [string | number, Json][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  return entries.flatMap(([k, x]) => [[...prefix, k], ...pathsOf(x, [...prefix, k])]);
}

function typo(word: string, n: number): string {
  if (word === "") return "x";
  const i = n % word.length;
  switch (n % 4) {
    case 0: return word.slice(0, i) + word.slice(i + 1); // a letter dropped
    case 1: return word.slice(0, i) + word[i] + word.slice(i); // a letter doubled
    case 2: return i + 1 < word.length ? word.slice(0, i) + word[i + 1] + word[i] + word.slice(i + 2) : word + "s"; // swapped
    default: return word.toUpperCase() === word ? word.toLowerCase() : word.toUpperCase(); // case
  }
}

function retype(v: Json): Json {
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : [v];
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return Object.fromEntries(v.map((x, i) => [String(i), x]));
  if (v === null) return 0;
  return Object.values(v);
}

/** The config with one mutation applied (the input is not changed). */
function mutate(config: Values, m: Mutation): Values {
  const root = structuredClone(config) as { [key: string]: Json };
  const paths = pathsOf(root);
  if (paths.length === 0) return { [m.key]: m.value };
  const at = paths[m.at % paths.length];
  const parentPath = at.slice(0, -1);
  const last = at[at.length - 1];
  let parent: Json = root;
  for (const p of parentPath) parent = (parent as Record<string | number, Json>)[p];
  const container = parent as Record<string | number, Json> & Json[];
  switch (m.kind) {
    case "replace":
      container[last] = m.value;
      break;
    case "remove":
      if (Array.isArray(container)) container.splice(Number(last), 1);
      else delete container[last];
      break;
    case "renameKey":
      if (!Array.isArray(container)) {
        const v = container[last];
        delete container[last];
        container[typo(String(last), m.typo)] = v;
      } else container[last] = retype(container[last]);
      break;
    case "addKey": {
      const target = container[last];
      if (target !== null && typeof target === "object" && !Array.isArray(target)) target[m.key] = m.value;
      else if (Array.isArray(target)) target.push(m.value);
      else container[last] = { [m.key]: m.value };
      break;
    }
    case "retype":
      container[last] = retype(container[last]);
      break;
    case "empty": {
      const v = container[last];
      container[last] = Array.isArray(v) ? [] : v !== null && typeof v === "object" ? {} : m.typo % 2 === 0 ? "" : null;
      break;
    }
  }
  return root;
}

// -------------------------------------------------------------------------------------------------
// What the engine hands the program, and what a refusal must look like.

/** Config values as the engine passes them to the program: strings, structured values as JSON text. */
function engineValues(values: Values): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${PROJECT}:${k}`, typeof v === "string" ? v : JSON.stringify(v)]));
}

type Outcome = { accepted: true } | { accepted: false; problems: string[]; message: string };

/** loadConfig on the values, as the program's first step does. Any exception but ConfigError escapes. */
function load(values: Values): Outcome {
  pulumi.runtime.setAllConfig(engineValues(values), []);
  try {
    loadConfig();
    return { accepted: true };
  } catch (e) {
    if (e instanceof ConfigError) return { accepted: false, problems: e.problems, message: e.message };
    throw e;
  }
}

const TRACE = /^\s+at .+[:(]\d+/m;

/** Every problem names a key: the project's namespace and a top-level key that was set or is required. */
function expectKeysNamed(values: Values, outcome: Outcome): void {
  if (outcome.accepted) return;
  expect(outcome.problems.length).toBeGreaterThan(0);
  const keys = [...CONFIG_KEYS, ...Object.keys(values)];
  for (const problem of outcome.problems) {
    if (!keys.some((k) => problem.includes(`${PROJECT}:${k}`))) {
      throw new Error(`a problem names no config key: ${JSON.stringify(problem)}`);
    }
  }
  expect(outcome.message).not.toMatch(TRACE);
}

// The program dials the API server named in the kubeconfig: only loopback may ever be dialled here.
// (The module object itself: an `import * as` namespace cannot be patched, the program's reads through it can.)
const netModule = jest.requireActual<typeof net>("net");
const dialled: string[] = [];
const realConnect = netModule.connect;
beforeAll(() => {
  jest.spyOn(netModule, "connect").mockImplementation(((...args: unknown[]) => {
    const options = args[0];
    const host = options !== null && typeof options === "object" && "host" in options ? String(options.host) : "localhost";
    if (!["127.0.0.1", "::1", "localhost"].includes(host)) {
      dialled.push(host);
      throw new Error(`config-property test refused to dial ${host}`);
    }
    return (realConnect as (...a: unknown[]) => net.Socket)(...args);
  }) as unknown as typeof net.connect);
});
afterAll(() => {
  jest.restoreAllMocks();
  expect(dialled).toEqual([]);
});

// -------------------------------------------------------------------------------------------------

describe("the starting points are valid, and the property can fail", () => {
  test.each(BASES)("the %s config is accepted", (_, values) => {
    expect(load(values)).toEqual({ accepted: true });
  });

  test("a refusal that names no key is caught by the check", () => {
    expect(() => expectKeysNamed({}, { accepted: false, problems: ["weight too big"], message: "m" })).toThrow(/names no config key/);
  });

  test("mutations change the config, and some of them are refused", () => {
    const samples = fc.sample(mutated, { numRuns: 200, seed: SEED });
    expect(samples.filter((s) => JSON.stringify(s.values) !== JSON.stringify(BASES.find(([n]) => n === s.base)?.[1])).length).toBeGreaterThan(150);
    const refused = samples.filter((s) => !load(s.values).accepted).length;
    expect(refused).toBeGreaterThan(50);
    expect(refused).toBeLessThan(200);
  });
});

describe(`loadConfig, the program's edge: ${COUNTS.loadRandom} random and ${COUNTS.loadMutated} mutated configs`, () => {
  test(`${COUNTS.loadRandom} random configs: accepted, or refused naming a key, never another exception`, () => {
    fc.assert(fc.property(randomConfig, (values) => expectKeysNamed(values, load(values))), { numRuns: COUNTS.loadRandom, seed: SEED });
  });

  test(`${COUNTS.loadMutated} mutated configs: accepted, or refused naming a key, never another exception`, () => {
    fc.assert(fc.property(mutated, ({ values }) => expectKeysNamed(values, load(values))), { numRuns: COUNTS.loadMutated, seed: SEED });
  });
});

describe(`the whole program under mocks: ${COUNTS.programMutated} mutated and ${COUNTS.programRandom} random configs`, () => {
  /** A refused config is a RunError (its message alone under the engine) and nothing was registered. */
  async function check(values: Values): Promise<void> {
    const expected = load(values);
    expectKeysNamed(values, expected);
    const recorded: Recorded[] = [];
    const failure = await runProgram(values, { recorded }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (failure === undefined) {
      if (!expected.accepted) throw new Error(`the program ran on a config loadConfig refuses:\n${expected.message}`);
      expect(recorded.length).toBeGreaterThan(0);
      return;
    }
    if (!pulumi.RunError.isInstance(failure)) throw failure;
    expect(failure.message).not.toMatch(TRACE);
    if (!expected.accepted) expect(failure.message).toBe(expected.message);
    else expect(failure.message).toMatch(new RegExp(`${PROJECT}:`));
    expect(recorded.map((r) => r.type)).toEqual([]);
  }

  test(`${COUNTS.programMutated} mutated configs: a refusal is a RunError naming the keys, with no resource registered`, async () => {
    await fc.assert(fc.asyncProperty(mutated, ({ values }) => check(values)), { numRuns: COUNTS.programMutated, seed: SEED });
  });

  test(`${COUNTS.programRandom} random configs: the same`, async () => {
    await fc.assert(fc.asyncProperty(randomConfig, (values) => check(values)), { numRuns: COUNTS.programRandom, seed: SEED });
  });
});
