// The Kubernetes provider writes the kubeconfig it is given (the admin client key included) to a new
// file in $TMPDIR on every run and never removes it. Every engine run the project starts gets a private
// TMPDIR inside the project's cache folder, removed when the run ends; the folders of runs that were
// killed before they could clean up are removed by the next run.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** `${LAB_CACHE:-~/.cache/kubeadm-istio-lab}/tmp`: the one place engine runs may leave temp files. */
export function privateTmpRoot(): string {
  const cache = process.env.LAB_CACHE !== undefined && process.env.LAB_CACHE !== "" ? process.env.LAB_CACHE : path.join(os.homedir(), ".cache", "kubeadm-istio-lab");
  return path.join(cache, "tmp");
}

function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes `run-<pid>-*` folders whose process is gone (a run killed before its cleanup). */
export function sweepPrivateTmp(root = privateTmpRoot()): string[] {
  if (!fs.existsSync(root)) return [];
  const removed: string[] = [];
  for (const entry of fs.readdirSync(root)) {
    const m = /^run-(\d+)-/.exec(entry);
    if (m === null || pidRunning(Number(m[1]))) continue;
    fs.rmSync(path.join(root, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

/** A new private TMPDIR (mode 700) for one run of this process; `remove` deletes it and what is in it. */
export function privateTmpdir(): { dir: string; remove(): void } {
  const root = privateTmpRoot();
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  fs.chmodSync(root, 0o700);
  sweepPrivateTmp(root);
  const dir = fs.mkdtempSync(path.join(root, `run-${process.pid}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
