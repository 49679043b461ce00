import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { connect as netConnect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ProbeError } from '../../src/core/errors.js';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { openConnection } from '../../src/net/connect.js';
import { NameResolver, nameResolver, setNameResolver } from '../../src/net/resolve/name-resolver.js';
import { PHASES } from '../../src/core/run.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { startDnsServer, type DnsServerOptions } from '../../test/net/dns-server.js';
import type { HardeningFigures } from '../lib/hardening.js';
import { max, ms, quantile } from '../lib/stats.js';

/**
 * Issue #12, a hanging DNS zone: two instances probe at once; the names of one live in a zone
 * whose DNS server never answers, the other's answer at once. For WINDOW_MS, the hanging instance
 * keeps 8 probe runs in flight (each with the default 10 s deadline, restarted as soon as it
 * fails); the healthy one connects every 100 ms and a small file is read every 100 ms. Reported:
 * the healthy instance's successes and DNS phase times, the file reads' times, and the lookups
 * still outstanding once the hanging runs were given up. Goal: every healthy run succeeds and
 * nothing is left outstanding.
 *
 * Three runs of that workload:
 * - this build, in this process, its resolver pointed at a loopback DNS server (always);
 * - in a private user, mount and network namespace (`unshare -rmn`, no root and no change outside
 *   it) where /etc/resolv.conf is bind-mounted to say `nameserver 127.0.0.1` and the DNS server
 *   listens on 127.0.0.1:53: the old resolution (dns.lookup, i.e. getaddrinfo on libuv's pool,
 *   the "before"), and this build with the system configuration as it reads it.
 * Without unshare (or user namespaces) the two namespace runs are reported as not measured.
 */

const WINDOW_MS = 12_000;
const RUN_DEADLINE_MS = 10_000;
const HANGING_IN_FLIGHT = 8;
const EVERY_MS = 100;
const HEALTHY_NAME = 'svc.ok.test';
const ZONES: DnsServerOptions = { zones: { 'ok.test': { [HEALTHY_NAME]: { a: ['127.0.0.1'] } } }, hang: ['hang.test'] };

type Mode = 'resolver' | 'getaddrinfo';

interface WorkloadFigures {
  readonly healthyRuns: number;
  readonly healthyOk: number;
  readonly failures: readonly string[];
  readonly dnsMs: readonly number[];
  readonly fileMs: readonly number[];
  readonly hangingRuns: number;
  readonly hangingReasons: Readonly<Record<string, number>>;
  /** Lookups not finished once the hanging runs were given up. */
  readonly outstanding: number;
}

/** How one mode resolves and connects: returns the DNS time in ms. */
type Connector = (host: string, port: number, signal: AbortSignal) => Promise<number>;

export async function measureHangingDns(): Promise<HardeningFigures> {
  const lines: string[] = [];
  const problems: string[] = [];

  const dir = mkdtempSync(join(tmpdir(), 'gde-dns-'));
  const dns = await startDnsServer(ZONES);
  const hostsFile = join(dir, 'hosts');
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(hostsFile, '127.0.0.1 localhost\n');
  writeFileSync(resolvConf, '');
  const resolver = new NameResolver({ servers: [dns.address], hostsFile, resolvConf });
  const previous = setNameResolver(resolver);
  try {
    const after = await workload(viaOpenConnection, () => resolver.stats().dnsQueries + resolver.stats().fallbackInFlight);
    report(lines, problems, 'this build, DNS server injected (c-ares, in process)', after, true);
  } finally {
    setNameResolver(previous);
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  }

  for (const mode of ['getaddrinfo', 'resolver'] as const) {
    const title = mode === 'getaddrinfo' ? 'before: dns.lookup (getaddrinfo), system resolv.conf in a namespace' : 'this build, system resolv.conf in a namespace';
    const child = await inNamespace(mode);
    if ('skipped' in child) lines.push(`${title}: not measured (${child.skipped})`);
    else report(lines, problems, title, child, mode === 'resolver');
  }
  return { title: 'hanging DNS zone (8 lookups that never get an answer) vs a healthy instance', lines, problems };
}

function report(lines: string[], problems: string[], title: string, f: WorkloadFigures, judged: boolean): void {
  const reasons = Object.entries(f.hangingReasons).map(([reason, n]) => `${n} ${reason}`).join(', ');
  lines.push(
    `${title}:`,
    `  healthy instance: ${f.healthyOk}/${f.healthyRuns} runs ok; dns phase p50 ${ms(quantile(f.dnsMs, 0.5))} ms, max ${ms(max(f.dnsMs))} ms`,
    `  file reads meanwhile: p50 ${ms(quantile(f.fileMs, 0.5))} ms, max ${ms(max(f.fileMs))} ms (${f.fileMs.length} reads)`,
    `  hanging instance: ${f.hangingRuns} runs ended (${reasons || 'none'}); lookups outstanding after giving up: ${f.outstanding}`,
  );
  if (f.failures.length > 0) lines.push(`  first healthy failure: ${f.failures[0]}`);
  if (!judged) return;
  if (f.healthyOk < f.healthyRuns) problems.push(`${title}: ${f.healthyRuns - f.healthyOk} of ${f.healthyRuns} healthy runs failed while the other zone hung`);
  if (f.outstanding > 0) problems.push(`${title}: ${f.outstanding} lookups still outstanding after the hanging runs ended`);
}

const viaOpenConnection: Connector = async (host, port, signal) => {
  const record = new RunRecorder(PHASES);
  const net = { proxy: undefined, ca: [], insecureSkipVerify: false, resolve: new Map<string, string>(), cloudflare: NO_RANGES };
  const connection = await openConnection({ host, port }, { net, signal, record });
  connection.socket.destroy();
  return (record.phases.get('dns') ?? 0) * 1000;
};

const NO_RANGES = loadCloudflareRanges();

/** The resolution before this change: dns.lookup raced against the deadline, left running after it. */
function oldConnector(): { connect: Connector; outstanding: () => number } {
  let running = 0;
  const connect: Connector = async (host, port, signal) => {
    const started = performance.now();
    running++;
    const work = lookup(host, { all: true, verbatim: true }).finally(() => running--);
    const found = await new Promise<{ address: string }[]>((resolve, reject) => {
      const onAbort = (): void => reject(new ProbeError('timeout', `deadline reached while resolving ${host}`));
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, (err: unknown) => reject(new ProbeError('dns', `resolving ${host}: ${String(err)}`))).finally(() => signal.removeEventListener('abort', onAbort));
    });
    const dnsMs = performance.now() - started;
    const socket = netConnect({ host: found[0]!.address, port });
    await once(socket, 'connect');
    socket.destroy();
    return dnsMs;
  };
  return { connect, outstanding: () => running };
}

async function workload(connect: Connector, outstanding: () => number): Promise<WorkloadFigures> {
  const server: Server = createServer((socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const smallFile = fileURLToPath(import.meta.url);
  const giveUp = new AbortController();
  const endAt = performance.now() + WINDOW_MS;
  const hangingReasons: Record<string, number> = {};
  let hangingRuns = 0;

  const hanging = Array.from({ length: HANGING_IN_FLIGHT }, async (_, i) => {
    for (let k = 0; performance.now() < endAt && !giveUp.signal.aborted; k++) {
      const signal = AbortSignal.any([AbortSignal.timeout(RUN_DEADLINE_MS), giveUp.signal]);
      const reason = await connect(`run${k}-probe${i}.hang.test`, 443, signal).then(
        () => 'connected (?)',
        (err: unknown) => (err instanceof ProbeError ? err.reason : 'error'),
      );
      hangingRuns++;
      hangingReasons[reason] = (hangingReasons[reason] ?? 0) + 1;
    }
  });
  // Let the hanging lookups take their place first, as they would in a running exporter.
  await new Promise((resolve) => setTimeout(resolve, 200));

  const dnsMs: number[] = [];
  const fileMs: number[] = [];
  const failures: string[] = [];
  let healthyRuns = 0;
  let healthyOk = 0;
  const healthy: Promise<void>[] = [];
  const files: Promise<void>[] = [];
  for (let t = performance.now(); t < endAt - RUN_DEADLINE_MS / 5; t = performance.now()) {
    healthy.push(
      connect(HEALTHY_NAME, port, AbortSignal.timeout(RUN_DEADLINE_MS)).then(
        (d) => {
          healthyRuns++;
          healthyOk++;
          dnsMs.push(d);
        },
        (err: unknown) => {
          healthyRuns++;
          failures.push(err instanceof Error ? err.message : String(err));
        },
      ),
    );
    const readStarted = performance.now();
    files.push(readFile(smallFile).then(() => void fileMs.push(performance.now() - readStarted)));
    await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
  }
  await Promise.all([...healthy, ...files]);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, endAt - performance.now())));
  giveUp.abort();
  await Promise.all(hanging);
  const left = outstanding();
  server.close();
  return { healthyRuns, healthyOk, failures, dnsMs, fileMs, hangingRuns, hangingReasons, outstanding: left };
}

// --- the namespace runs -------------------------------------------------------------------------

const SELF = fileURLToPath(import.meta.url);
const CHILD_ENV = 'GDE_DNS_MEASURE_CHILD';

async function inNamespace(mode: Mode): Promise<WorkloadFigures | { skipped: string }> {
  try {
    execFileSync('unshare', ['-rmn', 'true'], { stdio: 'ignore' });
  } catch (err) {
    return { skipped: `unshare -rmn does not work here: ${(err as Error).message.split('\n')[0]}` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'gde-dns-ns-'));
  const conf = join(dir, 'resolv.conf');
  writeFileSync(conf, 'nameserver 127.0.0.1\n');
  // Only inside the namespace: lo up, our resolv.conf over the system's; nothing outside changes.
  const script = `ip link set lo up 2>/dev/null || true; mount --bind "$1" /etc/resolv.conf && exec "$2" "$3"`;
  const child = spawn('unshare', ['-rmn', 'sh', '-c', script, 'sh', conf, process.execPath, SELF], {
    env: { ...process.env, [CHILD_ENV]: mode },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  rmSync(dir, { recursive: true, force: true });
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) return { skipped: `the namespace run failed (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' ') || 'no output'}` };
  return JSON.parse(line) as WorkloadFigures;
}

async function childMain(mode: Mode): Promise<void> {
  const dns = await startDnsServer({ ...ZONES, port: 53 });
  let figures: WorkloadFigures;
  if (mode === 'getaddrinfo') {
    const old = oldConnector();
    figures = await workload(old.connect, old.outstanding);
  } else {
    figures = await workload(viaOpenConnection, () => nameResolver().stats().dnsQueries + nameResolver().stats().fallbackInFlight);
  }
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  await dns.close();
  // getaddrinfo calls still hung in the pool would keep the process alive for many seconds more.
  process.exit(0);
}

const childMode = process.env[CHILD_ENV];
if ((childMode === 'getaddrinfo' || childMode === 'resolver') && process.argv[1] === SELF) await childMain(childMode);
