import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { SIMULATOR_HOSTS, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { caFileIn, runProbeOnce, testDir, type ProbeOutcome } from '../helpers/probe-harness.js';
import { LOOPBACK } from '../helpers/servers.js';
import { createCa, issueLeaf, type TestCa, type TestCert } from '../helpers/tls.js';

/**
 * The inbound probes through a real reverse proxy from Debian's packages (nginx, apache2): the
 * proxy terminates TLS for gitlab.duo-sim.test on a free loopback port with a certificate from a
 * test CA, and proxies to the simulator's GitLab (TLS, h2 + http/1.1, Workhorse's /-/cable check
 * and ActionCable's same-origin check). The exporter only ever talks to the proxy.
 */

/** The external name clients use; the proxy's certificate is for it, the simulator's too. */
export const PUBLIC_HOST = SIMULATOR_HOSTS.gitlab;
export type InboundProbe = 'websocket_cable' | 'instance_http2' | 'duo_chat';
export const PROBE_TIMEOUT = '5s';

/** The Debian binary, or an error naming the package to install (these tests never skip). */
export function debianBinary(name: string, pkg: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} is not installed: this test needs the Debian package "${pkg}" (apt-get install ${pkg})`);
}

export const runningAsRoot = (): boolean => process.getuid?.() === 0;

/** What every proxy configuration is built from. */
export interface Backend {
  readonly sim: Simulator;
  /** The CA the exporter trusts: it signed the proxy's certificate. */
  readonly ca: TestCa;
  /** The proxy's certificate for PUBLIC_HOST. */
  readonly cert: TestCert;
  /** The simulator's GitLab, as the proxy reaches it. */
  readonly backendPort: number;
}

/** `chatAnswerDelayMs`: how long the simulated Sidekiq takes to answer Duo Chat (duo_chat's rows). */
export async function startBackend(options: { chatAnswerDelayMs?: number } = {}): Promise<Backend> {
  const sim = await startSimulator(options);
  try {
    const ca = await createCa('reverse proxy test CA');
    const cert = await issueLeaf(ca, { dns: [PUBLIC_HOST] });
    return { sim, ca, cert, backendPort: Number(new URL(sim.gitlabUrl).port) };
  } catch (err) {
    await sim.close();
    throw err;
  }
}

/** A temporary directory for one proxy's config, certificate, logs and pid file. */
export function proxyDir(prefix: string, backend: Backend): { dir: string; certFile: string; keyFile: string; backendCaFile: string } {
  const dir = mkdtempSync(join(tmpdir(), `gde-${prefix}-`));
  const certFile = join(dir, 'proxy-chain.pem');
  const keyFile = join(dir, 'proxy-key.pem');
  const backendCaFile = join(dir, 'simulator-ca.pem');
  writeFileSync(certFile, backend.cert.chainPem);
  writeFileSync(keyFile, backend.cert.keyPem, { mode: 0o600 });
  writeFileSync(backendCaFile, backend.sim.caPem);
  return { dir, certFile, keyFile, backendCaFile };
}

export interface ProxyProcess {
  readonly port: number;
  /** The process's output and the log files it wrote, for failure messages. */
  logs(): string;
  /** Waits (up to 3 s: a tunnel is logged when it closes) for an access log line matching `line`. */
  accessLogLine(line: RegExp): Promise<string | undefined>;
  stop(): Promise<void>;
}

export interface ProxySpawn {
  readonly name: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly dir: string;
  readonly port: number;
  /** Files the server logs to, shown when it fails to start or a row fails. */
  readonly logFiles: readonly string[];
  /** One line per request: `<client> "<request line>" <status> <Upgrade header>`. */
  readonly accessLog: string;
}

/**
 * Starts the server in the foreground as our child, waits until its port accepts connections,
 * and stops it (SIGTERM to its pid, then SIGKILL) when the test ends, passed or failed.
 */
export async function startProxyProcess(spec: ProxySpawn): Promise<ProxyProcess> {
  let output = '';
  let ended = false;
  const child: ChildProcess = spawn(spec.binary, [...spec.args], { cwd: spec.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      ended = true;
      resolve();
    });
    child.once('error', (err) => {
      ended = true;
      output += `${err.message}\n`;
      resolve();
    });
  });
  const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  const logs = (): string => [output, ...[...spec.logFiles, spec.accessLog].map((f) => `--- ${f}\n${read(f)}`)].join('\n');
  const accessLogLine = async (line: RegExp): Promise<string | undefined> => {
    const until = Date.now() + 3000;
    for (;;) {
      const found = read(spec.accessLog)
        .split('\n')
        .find((l) => line.test(l));
      if (found !== undefined || Date.now() > until) return found;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!ended) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(spec.dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  onTestFinished(stop);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (ended) {
      throw new Error(`${spec.name} exited (${child.exitCode ?? child.signalCode}) before listening:\n${logs()}`);
    }
    if (await accepts(spec.port)) break;
    if (Date.now() > deadline) throw new Error(`${spec.name} did not listen on ${LOOPBACK}:${spec.port} within 10 s:\n${logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { port: spec.port, logs, accessLogLine, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Runs one probe through the probe harness against https://gitlab.duo-sim.test:<proxy port>,
 * pinned to 127.0.0.1, trusting the proxy's CA, with the simulator's Duo user token so the cable
 * is authenticated end to end.
 */
export async function runThroughProxy(probe: InboundProbe, backend: Backend, proxyPort: number): Promise<ProbeOutcome> {
  const instance = {
    url: `https://${PUBLIC_HOST}:${proxyPort}`,
    duo_user_token: backend.sim.duoUserToken,
    tls: { ca_file: caFileIn(testDir('gde-rp-exporter-'), backend.ca.certPem) },
    resolve: { [`${PUBLIC_HOST}:${proxyPort}`]: LOOPBACK },
    probes: { [probe]: { timeout: PROBE_TIMEOUT } },
  };
  const outcome = await runProbeOnce({ probe, instance });
  if (outcome.result === undefined) throw new Error(`${probe} is skipped: ${outcome.planned.skippedBecause}`);
  return outcome;
}

/**
 * The upgrade request websocket_cable makes, sent by hand through the proxy, to see who refused
 * it: the body tells Workhorse's "websocket upgrade required" (the backend saw a plain GET) from
 * an error page of the proxy's own.
 */
export function upgradeThroughProxy(backend: Backend, proxyPort: number): Promise<{ status: number; body: string }> {
  const authority = `${PUBLIC_HOST}:${proxyPort}`;
  return new Promise((resolve, reject) => {
    const req = request({
      host: LOOPBACK,
      port: proxyPort,
      servername: PUBLIC_HOST,
      ca: backend.ca.certPem,
      agent: false,
      path: '/-/cable',
      headers: {
        Host: authority,
        Origin: `https://${authority}`,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': 'actioncable-v1-json',
      },
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}
