import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { runTool } from '../assets/helpers.js';
import { closedPort } from '../helpers/ports.js';
import { waitFor } from './wait.js';

/** A Prometheus-style daemon (prometheus, alertmanager) started by the test on a loopback port. */
export interface Daemon {
  readonly name: string;
  readonly pid: number | undefined;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The last lines of its stdout and stderr, for failure messages. */
  log(): string;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  stop(): Promise<void>;
}

export interface DaemonSpec {
  /** The command on PATH, e.g. `prometheus` (Debian installs it as /usr/bin/prometheus). */
  readonly command: string;
  /** The Debian package that provides the command, named in the failure when it is missing. */
  readonly debianPackage: string;
  /** The command line for a given port (the port is chosen here). */
  readonly args: (port: number) => string[];
}

const LOG_LIMIT = 20_000;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

/**
 * Fails, naming every missing Debian package at once, unless each command runs. Called before
 * anything is started, so a machine without the packages fails fast and leaves nothing behind.
 */
export function requireCommands(commands: readonly { readonly command: string; readonly debianPackage: string }[]): void {
  const missing: string[] = [];
  for (const { command, debianPackage } of commands) {
    try {
      runTool(command, ['--version'], debianPackage);
    } catch (err) {
      missing.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (missing.length > 0) throw new Error(missing.join('\n'));
}

/**
 * Checks that the binary exists (a failure naming the Debian package, never a skip), starts it on a
 * free loopback port and waits for `/-/ready`. A port taken between choosing and binding it is
 * retried with another port.
 */
export async function startDaemon(spec: DaemonSpec): Promise<Daemon> {
  const version = runTool(spec.command, ['--version'], spec.debianPackage);
  if (version.status !== 0) throw new Error(`${spec.command} --version failed:\n${version.stdout}${version.stderr}`);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await closedPort();
    const daemon = launch(spec, port);
    try {
      await waitFor(`${spec.command} on port ${port} to be ready`, () => daemon.ready(), READY_TIMEOUT_MS, () => daemon.log());
      return daemon;
    } catch (err) {
      lastError = err;
      const addressInUse = /address already in use/i.test(daemon.log());
      await daemon.stop();
      if (!addressInUse) break;
    }
  }
  throw lastError;
}

function launch(spec: DaemonSpec, port: number): Daemon & { ready(): Promise<true | undefined> } {
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-LOG_LIMIT);
  };
  const child: ChildProcess = spawn(spec.command, spec.args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  let exitInfo = '';
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exitInfo = `exited with ${signal ?? `code ${code}`}`;
      resolve();
    });
    child.once('error', (err) => {
      exited = true;
      exitInfo = `failed to start: ${err.message}`;
      resolve();
    });
  });
  // Safety net: never leave the daemon behind if the test worker exits without running afterAll.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  return {
    name: spec.command,
    pid: child.pid,
    url,
    log: () => `--- ${spec.command} (pid ${child.pid ?? '?'}, ${url})${exited ? `, ${exitInfo}` : ''} ---\n${output}`,
    async ready() {
      if (exited) throw new Error(`${spec.command} ${exitInfo}`);
      const res = await fetch(`${url}/-/ready`);
      return res.ok ? true : undefined;
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitedPromise;
      clearTimeout(timer);
    },
  };
}
