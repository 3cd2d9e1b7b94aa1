// An OpenSSH server on 127.0.0.1 for engine tests: Debian's /usr/sbin/sshd as a daemon of the test
// on a free unprivileged port, with a host key and one authorized client key made here. Commands run
// as the test's own user on this machine.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { run } from "./cluster";
import { freePort } from "../../rig/util";

export const SSHD = "/usr/sbin/sshd";

export interface LocalSshd {
  host: string;
  port: number;
  user: string;
  /** The client's private key (OpenSSH PEM), accepted by this server only. */
  privateKey: string;
  /** A folder of the test's own, for files the remote commands write. */
  dir: string;
  stop(): Promise<void>;
}

/** Resolves once the server sends its SSH banner. */
function waitForBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect(port, "127.0.0.1");
      sock.once("data", (d) => {
        sock.destroy();
        if (d.toString().startsWith("SSH-")) {
          resolve();
        } else {
          reject(new Error(`unexpected banner on 127.0.0.1:${port}`));
        }
      });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) {
          reject(new Error(`sshd did not answer on 127.0.0.1:${port} within ${timeoutMs} ms`));
        } else {
          setTimeout(attempt, 50);
        }
      });
    };
    attempt();
  });
}

export async function startSshd(): Promise<LocalSshd> {
  if (!fs.existsSync(SSHD)) {
    throw new Error(`${SSHD} not found: install Debian's openssh-server (scripts/toolchain.sh does)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lab-sshd-"));
  fs.chmodSync(dir, 0o700);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "stand-in host", "-f", path.join(dir, "host_key")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "stand-in client", "-f", path.join(dir, "client_key")]);
  fs.copyFileSync(path.join(dir, "client_key.pub"), path.join(dir, "authorized_keys"));
  const port = await freePort();
  // Root's sshd needs its privilege-separation folder, which the package's service would make.
  if (process.getuid?.() === 0) {
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  }
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${path.join(dir, "host_key")}`,
    `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
    `PidFile ${path.join(dir, "sshd.pid")}`,
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitRootLogin prohibit-password",
    "UsePAM no",
    "StrictModes no",
    // What the command provider sets before a delete or update (the default sshd refuses them).
    "AcceptEnv PULUMI_COMMAND_STDOUT PULUMI_COMMAND_STDERR",
    "LogLevel ERROR",
  ].join("\n");
  const configFile = path.join(dir, "sshd_config");
  fs.writeFileSync(configFile, config + "\n");
  const stderr: string[] = [];
  const child: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await Promise.race([
      waitForBanner(port, 10_000),
      exited.then(() => {
        throw new Error(`sshd exited: ${stderr.join("")}`);
      }),
    ]);
  } catch (e) {
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    host: "127.0.0.1",
    port,
    user: os.userInfo().username,
    privateKey: fs.readFileSync(path.join(dir, "client_key"), "utf8"),
    dir,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        // Unref'd: a test runner that waits for open handles need not wait out the 3 s.
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
        if (child.exitCode === null) {
          child.kill("SIGKILL");
        }
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
