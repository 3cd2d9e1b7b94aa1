// @ts-check
// How the engine runs the program (Pulumi.yaml: `typescript: false`, `nodeargs: --require
// ./tools/ts-register.js`): .ts files are transpiled by TypeScript's transpileModule through the
// project's cache (tools/ts-transpile.js), and stack traces are mapped back to the .ts lines by Node's
// own source-map reader, frame by frame, only for the files transpiled here.
//
// Why not ts-node: the SDK asks for a stack trace many times per resource (the resource's source
// position, and a debug trace per internal promise). Under ts-node every frame of every trace goes
// through source-map-support, which copies each V8 call site and looks up a source map even for
// plain JavaScript: about 10 ms of each resource's registration, most of a flip's time in a program
// with hundreds of resources (docs/benchmarks.md). Here a frame costs V8's own formatting, plus one
// lookup when it is in a .ts file.
// Type-checking stays with tsc (`npm run build`, `npm test`).
"use strict";
const fs = require("fs");
const path = require("path");
const { SourceMap } = require("module");
const { transpileCached } = require("./ts-transpile");

/** @typedef {typeof import("typescript")} TS */
/** @type {TS | undefined} */
let tsModule;
function typescript() {
  return (tsModule ??= require("typescript"));
}

/**
 * tsconfig.json in the working folder or the nearest folder above it (the language host starts the
 * program in the project's folder), and the files it extends: their text is part of the cache key, so
 * the compiler options are only worked out when a file must be transpiled.
 * @param {string} start
 */
function findTsconfig(start) {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "tsconfig.json");
    if (fs.existsSync(file)) return file;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** @param {string | undefined} file */
function configChainText(file) {
  let text = "";
  for (let i = 0; file !== undefined && i < 10; i++) {
    const own = fs.readFileSync(file, "utf8");
    text += `${file}\0${own}\0`;
    const ext = /"extends"\s*:\s*"([^"]+)"/.exec(own)?.[1];
    if (ext === undefined) break;
    const base = path.dirname(file);
    file = ext.startsWith(".") || path.isAbsolute(ext) ? path.resolve(base, ext.endsWith(".json") ? ext : `${ext}.json`) : require.resolve(ext, { paths: [base] });
  }
  return text;
}

const tsconfig = findTsconfig(process.cwd());
const configText = configChainText(tsconfig);
/** @type {import("typescript").CompilerOptions | undefined} */
let compilerOptions;

/** The project's compiler options, as ts-node would take them for a transpile-only run. */
function options() {
  if (compilerOptions !== undefined) return compilerOptions;
  const ts = typescript();
  /** @type {import("typescript").CompilerOptions} */
  let base = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
  if (tsconfig !== undefined) {
    const read = ts.readConfigFile(tsconfig, ts.sys.readFile);
    if (read.error) throw new Error(`${tsconfig}: ${ts.flattenDiagnosticMessageText(read.error.messageText, "\n")}`);
    // No folder scan: only the options are needed, not the list of files.
    const host = { ...ts.sys, readDirectory: () => [] };
    base = ts.parseJsonConfigFileContent(read.config, host, path.dirname(tsconfig), undefined, tsconfig).options;
  }
  // A source map of each file, kept apart from the code (it serves the stack traces below).
  compilerOptions = { ...base, sourceMap: true, inlineSourceMap: false, inlineSources: false, declaration: false, noEmit: false };
  return compilerOptions;
}

const TS_VERSION = JSON.parse(fs.readFileSync(require.resolve("typescript/package.json"), "utf8")).version;
const SALT = `register-1\0${TS_VERSION}\0${configText}`;

/** Source maps of the files transpiled here, decoded when a trace first passes through the file. */
/** @type {Map<string, { text: string, map?: import("module").SourceMap }>} */
const maps = new Map();

/**
 * V8's own text of each frame, with the position of a frame in a .ts file replaced by its .ts line and
 * column. Node's `--enable-source-maps` would do the same for every file with a source map comment
 * (the SDK's too), reading each one; this reads only the program's.
 * @param {Error} error
 * @param {NodeJS.CallSite[]} frames
 */
function prepareStackTrace(error, frames) {
  let header;
  try {
    header = Error.prototype.toString.call(error);
  } catch {
    header = "Error";
  }
  const lines = [header];
  for (const frame of frames) {
    let text = String(frame);
    const file = frame.getFileName();
    const known = file === undefined || file === null ? undefined : maps.get(file);
    if (known !== undefined) {
      const line = frame.getLineNumber();
      const column = frame.getColumnNumber();
      if (line !== null && column !== null) {
        known.map ??= new SourceMap(JSON.parse(known.text));
        const entry = known.map.findEntry(line - 1, column - 1);
        if (entry !== undefined && "originalLine" in entry) {
          const generated = `${file}:${line}:${column}`;
          const at = text.lastIndexOf(generated);
          if (at >= 0) text = `${text.slice(0, at)}${file}:${entry.originalLine + 1}:${entry.originalColumn + 1}${text.slice(at + generated.length)}`;
        }
      }
    }
    lines.push(`    at ${text}`);
  }
  return lines.join("\n");
}

/** A syntax error, as tsc prints it, naming the file, line and column. */
class TypeScriptSyntaxError extends Error {}

/**
 * @param {NodeJS.Module & { _compile(code: string, file: string): unknown }} module
 * @param {string} fileName
 */
function compileTs(module, fileName) {
  // Installed at the first .ts file, so after the SDK's launcher has put source-map-support in place.
  if (Error.prepareStackTrace !== prepareStackTrace) Error.prepareStackTrace = prepareStackTrace;
  const input = fs.readFileSync(fileName, "utf8");
  const out = transpileCached(SALT, fileName, input, () => ({ ts: typescript(), compilerOptions: options() }));
  if (out.diagnostics !== undefined && out.diagnostics.length > 0) {
    const ts = typescript();
    const text = out.diagnostics
      .map((d) => {
        const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
        const pos = where ? `:${where.line + 1}:${where.character + 1}` : "";
        return `${fileName}${pos} - error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      })
      .join("\n");
    throw new TypeScriptSyntaxError(text);
  }
  if (out.sourceMapText !== undefined) maps.set(fileName, { text: out.sourceMapText });
  // The map is held here, not fetched through a comment.
  module._compile(out.outputText.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"), fileName);
}

// eslint-disable-next-line n/no-deprecated-api -- require.extensions is how a CommonJS loader hook is made
require.extensions[".ts"] = /** @type {(m: NodeJS.Module, f: string) => void} */ (compileTs);

module.exports = { prepareStackTrace, compileTs, TypeScriptSyntaxError };
