// How every tool of the project ends: a config or usage mistake prints its message alone (the way the
// program's refusal reads under the engine) and exits non-zero; only a bug shows a stack trace.
import { ConfigError } from "../config/schema";

/** A mistake in how a tool was called (a flag, a stack name): the message says what to do. */
export class UsageError extends Error {}

export function runTool(name: string, main: () => number | void | Promise<number | void>): void {
  const fail = (e: unknown) => {
    if (e instanceof ConfigError || e instanceof UsageError) {
      process.stderr.write(`${name}: ${e.message}\n`);
    } else {
      process.stderr.write(`${name}: unexpected error (a bug; please report it):\n${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
    process.exitCode = 1;
  };
  try {
    Promise.resolve(main()).then((code) => {
      if (typeof code === "number") process.exitCode = code;
    }, fail);
  } catch (e) {
    fail(e);
  }
}
