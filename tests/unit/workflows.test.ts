// The GitHub workflows' trust boundaries (issue 22, part 6), read from the files with the yaml package:
// which job gets which secret and token permission, deploy from main alone, actions pinned by commit,
// the summary comment edited only when this workflow's bot wrote it, and a private TMPDIR around every
// engine run. The comment and TMPDIR steps' scripts are run here too, with a stand-in `gh`.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { runProgram, stackConfig } from "./harness";

const ROOT = path.resolve(__dirname, "..", "..");

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, unknown>;
  with?: Record<string, unknown>;
}
interface Job {
  if?: string;
  environment?: unknown;
  permissions?: unknown;
  env?: Record<string, unknown>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: unknown;
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

function load(file: string): { text: string; wf: Workflow } {
  const text = fs.readFileSync(path.join(ROOT, ".github", "workflows", file), "utf8");
  return { text, wf: parse(text) as Workflow };
}
const pr = load("pull-request.yml");
const deploy = load("deploy.yml");
const workflows = { "pull-request.yml": pr, "deploy.yml": deploy };
const allJobs = Object.entries(workflows).flatMap(([file, { wf }]) => Object.entries(wf.jobs).map(([id, job]) => ({ file, id, job })));

const mentions = (v: unknown, what: string | RegExp): boolean =>
  typeof what === "string" ? JSON.stringify(v ?? null).includes(what) : what.test(JSON.stringify(v ?? null));

/** The step that makes the private TMPDIR, and the first that runs the engine or installs its CLI. */
const TMP_SETUP = /install -d -m 700 "\$RUNNER_TEMP\/pulumi-tmp"[\s\S]*echo "TMPDIR=\$RUNNER_TEMP\/pulumi-tmp" >>"\$GITHUB_ENV"/;
const isPulumiStep = (s: Step): boolean => (s.uses ?? "").startsWith("pulumi/") || /\bpulumi\s+\w|tools\/summary\.ts/.test(s.run ?? "");

describe("secrets", () => {
  test("only the preview and deploy's up read SSH_PRIVATE_KEY, each in the one step that writes the key file", () => {
    const readers = allJobs.filter(({ job }) => mentions(job, "SSH_PRIVATE_KEY")).map(({ file, id }) => `${file}:${id}`);
    // The preview keeps it while the program reads the key file in a preview (see the test below).
    expect(readers.sort()).toEqual(["deploy.yml:up", "pull-request.yml:preview"]);
    for (const job of [pr.wf.jobs.preview, deploy.wf.jobs.up]) {
      expect(mentions(job.env, "SSH_PRIVATE_KEY")).toBe(false);
      const steps = job.steps.filter((s) => mentions(s, "SSH_PRIVATE_KEY"));
      expect(steps).toHaveLength(1);
      expect(steps[0].env).toEqual({ SSH_PRIVATE_KEY: "${{ secrets.SSH_PRIVATE_KEY }}" });
      expect(steps[0].run).toContain("~/.ssh/id_ed25519");
    }
  });

  test("a preview of a stack that reads sshPrivateKeyPath still needs the key file (why the preview job gets SSH_PRIVATE_KEY)", async () => {
    // When this stops failing, the program previews without the key: take SSH_PRIVATE_KEY off the preview job.
    const missing = path.join(os.tmpdir(), `lab-no-such-key-${process.pid}`);
    await expect(runProgram({ ...stackConfig("dev"), sshPrivateKeyPath: missing }, { preview: true })).rejects.toThrow(
      /kubeadm-istio-lab:sshPrivateKeyPath: cannot read .*lab-no-such-key-\d+ \(ENOENT\)/,
    );
  });

  test("in pull requests only the preview job gets secrets; the fork job, the tests and the comment get none", () => {
    const withSecrets = Object.entries(pr.wf.jobs).filter(([, job]) => mentions(job, /secrets\./)).map(([id]) => id);
    expect(withSecrets).toEqual(["preview"]);
    expect(pr.wf.jobs.preview.if).toMatch(/needs\.stacks\.outputs\.fork == 'false'/);
    expect(pr.wf.jobs["fork-routing"].if).toMatch(/needs\.stacks\.outputs\.fork == 'true'/);
  });

  test("deploy: up runs in the stack's environment, from main only", () => {
    expect(deploy.wf.on.push).toEqual({ branches: ["main"] });
    const { up, stacks } = deploy.wf.jobs;
    expect(up.environment).toBe("${{ matrix.stack }}");
    expect(up.if).toMatch(/^github\.ref == 'refs\/heads\/main' && /);
    // Every deploy job that reads a secret is that one.
    expect(Object.entries(deploy.wf.jobs).filter(([, job]) => mentions(job, /secrets\./)).map(([id]) => id)).toEqual(["up"]);
    // A dispatch from another branch fails in the first step, saying why, rather than skipping quietly.
    expect(stacks.steps[0].if).toBe("github.ref != 'refs/heads/main'");
    expect(stacks.steps[0].run).toMatch(/exit 1/);
  });
});

describe("actions pinned by commit", () => {
  test.each(Object.keys(workflows))("%s: every uses: is a 40-hex commit with its tag in a trailing comment", (file) => {
    const { text, wf } = workflows[file as keyof typeof workflows];
    const parsed = Object.values(wf.jobs).flatMap((job) => job.steps.map((s) => s.uses).filter((u): u is string => u !== undefined));
    const lines = text.split("\n").filter((l) => /^\s*(- )?uses:/.test(l));
    expect(parsed.length).toBeGreaterThan(0);
    // Every uses the parser sees is on a line of its own, so its comment can be checked.
    expect(lines).toHaveLength(parsed.length);
    for (const line of lines) expect(line).toMatch(/uses: [\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
    for (const uses of parsed) expect(uses).toMatch(/@[0-9a-f]{40}$/);
  });

  test("one action, one commit, one tag in both workflows", () => {
    const pins = new Map<string, Set<string>>();
    for (const { text } of Object.values(workflows)) {
      for (const m of text.matchAll(/uses: ([\w.-]+\/[\w.-]+)@([0-9a-f]{40}) # (v\S+)/g)) {
        pins.set(m[1], (pins.get(m[1]) ?? new Set()).add(`${m[2]} ${m[3]}`));
      }
    }
    expect(pins.size).toBeGreaterThan(0);
    for (const [action, versions] of pins) expect({ action, versions: [...versions] }).toEqual({ action, versions: [[...versions][0]] });
  });
});

describe("token permissions", () => {
  test.each(Object.keys(workflows))("%s: none at the top, each job only what it needs", (file) => {
    const { wf } = workflows[file as keyof typeof workflows];
    expect(wf.permissions).toEqual({});
    for (const [id, job] of Object.entries(wf.jobs)) {
      const needs = file === "pull-request.yml" && id === "comment" ? { "pull-requests": "write" } : { contents: "read" };
      expect({ id, permissions: job.permissions }).toEqual({ id, permissions: needs });
    }
  });

  test("no checkout leaves the token in .git/config for the code it checked out", () => {
    const checkouts = allJobs.flatMap(({ job }) => job.steps.filter((s) => s.uses?.startsWith("actions/checkout@")));
    expect(checkouts.length).toBeGreaterThan(0);
    for (const s of checkouts) expect(s.with?.["persist-credentials"]).toBe(false);
  });
});

describe("the summary comment", () => {
  const step = pr.wf.jobs.comment.steps.find((s) => s.run?.includes("--method PATCH"));
  if (!step?.run || !step.env) throw new Error("pull-request.yml: no comment step that edits with gh api --method PATCH");
  const script = step.run;

  test("the comment step selects by author (the workflow's bot) and marker", () => {
    expect(step.env?.BOT_LOGIN).toBe("github-actions[bot]");
    expect(script).toContain('.user.login == \\"$BOT_LOGIN\\"');
    expect(script).toContain('.user.type == \\"Bot\\"');
    expect(script).toContain('startswith(\\"<!-- $COMMENT_MARKER -->\\")');
  });

  /** Runs the step's script with a stand-in `gh` that serves `comments` and records what it is asked to write. */
  function post(comments: { id: number; login: string; type: string; body: string }[]): string[] {
    expect(script).not.toContain("${{");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-comment-"));
    try {
      fs.mkdirSync(path.join(dir, "bin"));
      fs.mkdirSync(path.join(dir, "summaries"));
      fs.writeFileSync(path.join(dir, "summaries", "summary-dev.md"), "### Pulumi preview of stack `dev`\n");
      fs.writeFileSync(path.join(dir, "comments.json"), JSON.stringify(comments.map((c) => ({ id: c.id, body: c.body, user: { login: c.login, type: c.type } }))));
      // gh api [--method M] PATH [--paginate] [--jq EXPR] [-F body=@FILE]: GET answers with jq, like gh's --jq.
      fs.writeFileSync(
        path.join(dir, "bin", "gh"),
        [
          "#!/usr/bin/env bash",
          "set -euo pipefail",
          'method=GET; jqexpr=; target=; shift',
          'while (($#)); do case $1 in --method) method=$2; shift 2;; --jq) jqexpr=$2; shift 2;; --paginate) shift;; -F) shift 2;; *) target=$1; shift;; esac; done',
          'if [ "$method" = GET ]; then jq -r "$jqexpr" "$FAKE_DIR/comments.json"; else echo "$method $target" >>"$FAKE_DIR/calls"; fi',
          "",
        ].join("\n"),
        { mode: 0o755 },
      );
      const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
        cwd: dir,
        encoding: "utf8",
        env: {
          PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
          FAKE_DIR: dir,
          COMMENT_MARKER: pr.wf.env?.COMMENT_MARKER,
          GITHUB_REPOSITORY: "owner/lab",
          GITHUB_SERVER_URL: "https://github.com",
          GITHUB_RUN_ID: "1",
          ...(step!.env as Record<string, string>),
          PR: "7",
          HEAD_SHA: "0123456789abcdef0123456789abcdef01234567",
          PREVIEW_RESULT: "success",
        },
      });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
      return fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const marker = `<!-- ${pr.wf.env?.COMMENT_MARKER} -->`;
  test("edits the bot's comment, not one planted before it with the same marker", () => {
    expect(
      post([
        { id: 11, login: "mallory", type: "User", body: `${marker}\nall green, merge away` },
        { id: 12, login: "someapp[bot]", type: "Bot", body: marker },
        { id: 13, login: "github-actions[bot]", type: "Bot", body: `${marker}\nolder summary` },
      ]),
    ).toEqual(["PATCH repos/owner/lab/issues/comments/13"]);
  });

  test("posts a new comment when only others carry the marker, or the bot's comment lacks it", () => {
    expect(
      post([
        { id: 11, login: "mallory", type: "User", body: marker },
        { id: 12, login: "github-actions[bot]", type: "Bot", body: `quoting: ${marker}` },
      ]),
    ).toEqual(["POST repos/owner/lab/issues/7/comments"]);
  });
});

describe("a private TMPDIR around every engine run", () => {
  test.each([
    ["pull-request.yml", "preview"],
    ["deploy.yml", "up"],
  ])("%s %s: TMPDIR set before the first pulumi step, removed at the end whatever happened", (file, id) => {
    const job = workflows[file as keyof typeof workflows].wf.jobs[id];
    const setup = job.steps.findIndex((s) => TMP_SETUP.test(s.run ?? ""));
    const firstPulumi = job.steps.findIndex(isPulumiStep);
    expect(setup).toBeGreaterThanOrEqual(0);
    expect(firstPulumi).toBeGreaterThan(setup);
    expect(mentions(job.env, "TMPDIR")).toBe(false);
    const last = job.steps[job.steps.length - 1];
    expect(last.if).toBe("always()");
    expect(last.run).toBe('rm -rf "$RUNNER_TEMP/pulumi-tmp"');
  });

  test("the setup step makes a folder only its user can enter and hands it to the later steps", () => {
    const run = pr.wf.jobs.preview.steps.find((s) => TMP_SETUP.test(s.run ?? ""))?.run ?? "";
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-runner-temp-"));
    try {
      const env = path.join(dir, "github_env");
      const r = spawnSync("bash", ["-eo", "pipefail", "-c", run], { encoding: "utf8", env: { PATH: process.env.PATH, RUNNER_TEMP: dir, GITHUB_ENV: env } });
      expect(r.status).toBe(0);
      expect(fs.statSync(path.join(dir, "pulumi-tmp")).mode & 0o777).toBe(0o700);
      expect(fs.readFileSync(env, "utf8")).toBe(`TMPDIR=${dir}/pulumi-tmp\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
