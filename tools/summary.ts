// The preview summary a reviewer reads in ten seconds: per service, each destination's weight
// before → after, and changed timeouts, retries, faults and header routes; then replaces and deletes,
// other changes counted by type, and policy violations.
//
//   npm run summary -- --stack local                          # runs pulumi preview --json
//   npm run summary -- --stack local --policy-pack policies/run-pack [--policy-pack-config FILE]
//   npm run summary -- --from preview.json                    # a saved `pulumi preview --json` output
//   options: --format md|text (default: text on a terminal, Markdown otherwise), --save FILE (keep the
//            raw preview output), --marker TEXT (an HTML comment for a workflow to find its comment),
//            --cwd DIR (the Pulumi project folder; default the repository root)
//   npm run summary -- --stack dev --config-only --base origin/main
//            routing only, from Pulumi.<stack>.yaml at REF and in the work tree: no engine, backend or
//            secret (pull requests from forks)
//
// Exit status: 0 when the preview succeeded, 1 when it failed (policy violation, program error; the
// summary is printed all the same), 2 on bad arguments or unreadable output.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { configOnly, configOnlySummary } from "./summary/configDiff";
import { parsePreview } from "./summary/preview";
import { Format, renderSummary, summarize } from "./summary/summarize";
import { runTool, UsageError } from "./cli";
import { privateTmpdir } from "./privateTmp";

export interface SummaryArgs {
  stack?: string;
  from?: string;
  save?: string;
  format?: Format;
  marker?: string;
  cwd: string;
  policyPacks: string[];
  policyPackConfigs: string[];
  /** Routing from config only, compared with this git revision. */
  base?: string;
  configOnly: boolean;
}

export function parseArgs(argv: string[]): SummaryArgs {
  const args: SummaryArgs = { cwd: path.resolve(__dirname, ".."), policyPacks: [], policyPackConfigs: [], configOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--stack": case "-s": args.stack = value(); break;
      case "--from": args.from = value(); break;
      case "--save": args.save = value(); break;
      case "--marker": args.marker = value(); break;
      case "--cwd": args.cwd = path.resolve(value()); break;
      case "--policy-pack": args.policyPacks.push(value()); break;
      case "--config-only": args.configOnly = true; break;
      case "--base": args.base = value(); break;
      case "--policy-pack-config": args.policyPackConfigs.push(value()); break;
      case "--format": {
        const f = value();
        if (f !== "md" && f !== "text") throw new UsageError(`--format: md or text, not ${f}`);
        args.format = f;
        break;
      }
      default:
        throw new UsageError(`unknown argument ${flag}`);
    }
  }
  if (!args.from && !args.stack) throw new UsageError("give --stack NAME (runs pulumi preview) or --from FILE (a saved preview)");
  if (args.configOnly && !args.stack) throw new UsageError("--config-only needs --stack NAME");
  return args;
}

/** Runs `pulumi preview --json` as an event stream (the only shape that carries policy violations). */
export function runPreview(args: SummaryArgs): { output: string; status: number | null } {
  const cli = ["preview", "--json", "--non-interactive", "--stack", args.stack ?? ""];
  for (const p of args.policyPacks) cli.push("--policy-pack", p);
  for (const c of args.policyPackConfigs) cli.push("--policy-pack-config", c);
  const tmp = privateTmpdir();
  let r;
  try {
    r = spawnSync("pulumi", cli, {
      cwd: args.cwd,
      env: { ...process.env, TMPDIR: tmp.dir, PULUMI_ENABLE_STREAMING_JSON_PREVIEW: "true", PULUMI_SKIP_UPDATE_CHECK: "true" },
      encoding: "utf8",
      maxBuffer: 512 * 1024 * 1024,
      stdio: ["ignore", "pipe", "inherit"],
    });
  } finally {
    tmp.remove();
  }
  if (r.error) throw new Error(`pulumi preview could not start: ${r.error.message}`);
  return { output: r.stdout, status: r.status };
}

export function main(argv: string[]): number {
  let args: SummaryArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`summary: ${(e as Error).message}\n`);
    return 2;
  }
  const format: Format = args.format ?? (process.stdout.isTTY ? "text" : "md");
  if (args.configOnly) {
    const stack = args.stack ?? "";
    const summary = configOnly(args.cwd, stack, args.base ?? "HEAD");
    const note =
      `Computed from Pulumi.${stack}.yaml only (compared with ${args.base ?? "HEAD"}), without pulumi preview: ` +
      "no engine, backend or secret was used, so only routing is shown; other resources and policies were not checked.";
    const lines = renderSummary(summary, { format, stack, marker: args.marker, note, title: "Routing from config" });
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  }
  let text: string;
  if (args.from) {
    text = fs.readFileSync(args.from, "utf8");
  } else {
    const r = runPreview(args);
    text = r.output;
    if (text.trim() === "") {
      // The CLI stopped before the engine ran (no stack, no backend, bad passphrase): its stderr says why.
      const failed = renderSummary(
        { ...configOnlySummary(args.stack ?? "", []), scope: "preview", succeeded: false, errors: [`pulumi preview exited with ${String(r.status)} before any output; its messages are in the log`] },
        { format, stack: args.stack, marker: args.marker },
      );
      process.stdout.write(failed.join("\n") + "\n");
      return 1;
    }
  }
  if (args.save) fs.writeFileSync(args.save, text);
  let preview;
  try {
    preview = parsePreview(text);
  } catch (e) {
    process.stderr.write(`summary: ${(e as Error).message}\n`);
    return 2;
  }
  const lines = renderSummary(summarize(preview), { format, stack: args.stack, marker: args.marker });
  process.stdout.write(lines.join("\n") + "\n");
  return preview.succeeded ? 0 : 1;
}

if (require.main === module) {
  runTool("summary", () => main(process.argv.slice(2)));
}
