// @ts-check
// The project's transpile cache: TypeScript's own transpileModule, with each file's output kept in
// node_modules/.cache so that a run re-transpiles only the files that changed. Used by the engine's runs
// (tools/ts-register.js) and by the tools run under ts-node (tsconfig.json, "ts-node"). Type-checking is
// tsc's job (`npm test`, `npm run build`), not theirs: see docs/benchmarks.md for what each part saves.
// Plain JavaScript because it is loaded before anything can be compiled.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const CACHE_DIR = path.join(__dirname, "..", "node_modules", ".cache", "kubeadm-istio-lab-ts");

/** @param {string} text */
function sha256(text) {
  return crypto.createHash("sha256").update(text).digest("hex");
}

/**
 * @typedef {{ digest: string, outputText: string, sourceMapText?: string }} Entry
 * @param {string} file
 * @returns {Entry | undefined}
 */
function read(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined; // absent or half-written by an older version: transpile again
  }
}

/**
 * Best effort: a read-only node_modules only costs the cache.
 * @param {string} file
 * @param {Entry} entry
 */
function write(file, entry) {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Two engine runs may transpile the same file at once: each writes its own file, then renames.
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(entry));
    fs.renameSync(tmp, file);
  } catch {
    // keep going without the cache
  }
}

/**
 * The output for one file: from the cache while the file, the compiler and its options are unchanged
 * (`salt` names the last two), else from TypeScript's transpileModule. `load` gives the compiler and its
 * options; it runs only on a miss, so a warm run never loads TypeScript.
 * @param {string} salt
 * @param {string} fileName
 * @param {string} input
 * @param {() => { ts: typeof import("typescript"), compilerOptions: import("typescript").CompilerOptions }} load
 * @returns {{ outputText: string, sourceMapText?: string, diagnostics?: import("typescript").Diagnostic[] }}
 */
function transpileCached(salt, fileName, input, load) {
  const cacheDir = process.env.LAB_TS_CACHE_DIR ?? CACHE_DIR;
  // One entry per file and option set, replaced when the file changes: the cache does not grow with edits.
  const file = path.join(cacheDir, `${sha256(salt + fileName).slice(0, 40)}.json`);
  const digest = sha256(salt + fileName + "\0" + input);
  const hit = read(file);
  if (hit !== undefined && hit.digest === digest) return { outputText: hit.outputText, sourceMapText: hit.sourceMapText };
  const { ts, compilerOptions } = load();
  const out = ts.transpileModule(input, { fileName, compilerOptions, reportDiagnostics: true });
  // Syntax errors are reported by the caller and never cached.
  if ((out.diagnostics ?? []).length === 0) write(file, { digest, outputText: out.outputText, sourceMapText: out.sourceMapText });
  return { outputText: out.outputText, sourceMapText: out.sourceMapText, diagnostics: out.diagnostics };
}
exports.transpileCached = transpileCached;

/** ts-node's transpiler (tsconfig.json "ts-node"), for the tools that run under ts-node. */
/** @type {import("ts-node").TranspilerFactory} */
exports.create = ({ service }) => {
  /** @type {typeof import("typescript")} */
  const ts = require(service.projectLocalResolveHelper(service.options.compiler ?? "typescript", true));
  const compilerOptions = service.config.options;
  // Output depends on the compiler, its options, the file's name (source map) and its text.
  const salt = `${ts.version}\0${JSON.stringify(compilerOptions)}\0`;
  return {
    transpile(input, { fileName }) {
      return transpileCached(salt, fileName, input, () => ({ ts, compilerOptions }));
    },
  };
};
