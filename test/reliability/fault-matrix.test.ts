import { execFileSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { closeSync, constants as fsConstants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { writeFigures } from '../../reliability/lib/figures.js';
import type { FailureReason } from '../../src/core/errors.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { parseExposition } from '../helpers/exposition.js';
import { DEADLINE_SLACK_SECONDS } from '../helpers/probe-harness.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { LOOPBACK, startSilentServer } from '../helpers/servers.js';
import { createPki } from '../helpers/tls.js';
import { history, leaksSince, overlaps, resources, sleep, startDaemon, watch } from './lib/daemon.js';
import { RETRY_AFTER_SECONDS, startFaultServer, startGarbageServer, type AppFault } from './lib/fault-server.js';
import { realShapes } from './lib/shapes.js';

/**
 * Issue #6, part 1: every probe × every fault, against real servers on loopback, through the
 * whole daemon (startApp). One daemon per fault runs every probe at once; per cell: the right
 * reason, within the deadline, no overlapping runs, the metrics say the same; per fault: the
 * daemon answered /metrics and /-/healthy within 2 s all along, and once it is stopped every
 * socket, timer and pending request is gone.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const INSTANCE = 'fault';
const HOSTS = { gitlab: 'gitlab', customers: 'customers', cloud: 'cloud', dws: 'dws', aigw: 'aigw' } as const;
const ADMIN_TOKEN = 'sentinel-fault-admin-5e1f0a7c9b';
const DUO_TOKEN = 'sentinel-fault-duo-3c8d2b6a41';
const AGENT_TOKEN = 'sentinel-fault-agent-7d2e9f4b15';

const NETWORK = PROBE_NAMES.filter((p) => p !== 'proxy_env');
const API = ['license', 'health_check', 'code_suggestions', 'duo_workflow_tools', 'instance_settings', 'composite_identity', 'version', 'exporter_tokens', 'agent_platform_client', 'duo_chat'];
const GRAPHQL = ['license', 'health_check', 'composite_identity', 'duo_chat'];

type Expect = FailureReason | 'ok';
type RawFault = 'hang' | 'tls_garbage' | 'dns' | 'proxy_407' | 'proxy_502' | 'env_fifo' | 'env_huge';
type Fault = AppFault | RawFault;

interface Row {
  readonly fault: Fault;
  readonly what: string;
  readonly expect: Readonly<Record<string, Expect>>;
  /** Faster schedule for the rows that need many runs (the storm, the FIFO). */
  readonly schedule?: { interval: string; timeout: string; runs: number };
}

const all = (reason: Expect, probes: readonly string[] = NETWORK): Record<string, Expect> => Object.fromEntries(probes.map((p) => [p, reason]));
const healthyBut = (overrides: Record<string, Expect>): Record<string, Expect> => ({ ...all('ok', PROBE_NAMES), ...overrides });

const ROWS: readonly Row[] = [
  { fault: 'healthy', what: 'control: a healthy peer', expect: all('ok', PROBE_NAMES) },
  { fault: 'hang', what: 'accepts TCP, never says a word', expect: healthyBut(all('timeout')) },
  { fault: 'slowloris', what: 'trickles one byte every 100 ms', expect: healthyBut(all('timeout')) },
  {
    fault: 'reset',
    what: 'half an answer, then TCP RST / RST_STREAM',
    expect: healthyBut({
      ...all('unexpected_response'),
      duo_workflow_service: 'grpc',
      websocket_cable: 'websocket_upgrade',
      instance_http2: 'http2_not_negotiated',
    }),
  },
  { fault: 'tls_garbage', what: 'answers the ClientHello with noise', expect: healthyBut(all('tls')) },
  {
    fault: 'huge_body',
    what: 'an 8 MiB body (caps: 64 KiB / 1 MiB)',
    // HEAD reads no body: the host probes see an answer and rightly pass.
    expect: healthyBut({ ...all('unexpected_response'), customers_portal: 'ok', cloud_connector: 'ok', duo_workflow_service: 'grpc', websocket_cable: 'websocket_protocol' }),
  },
  { fault: 'malformed_json', what: 'JSON cut in the middle', expect: healthyBut(all('unexpected_response', API)) },
  { fault: 'graphql_errors', what: 'a GraphQL errors array, data null', expect: healthyBut(all('unexpected_response', GRAPHQL)) },
  {
    fault: 'rate_limited',
    what: `429 with Retry-After: ${RETRY_AFTER_SECONDS}`,
    // Any HTTP answer proves the host path and HTTP/2; the others must say what they got.
    expect: healthyBut({ ...all('rate_limited', API), ai_gateway: 'http_status', websocket_cable: 'websocket_upgrade', duo_workflow_service: 'grpc' }),
  },
  {
    fault: 'server_error',
    what: '500/502/503/504 in a storm (a run every 700 ms)',
    expect: healthyBut({ ...all('http_status', API), ai_gateway: 'http_status', websocket_cable: 'websocket_upgrade', duo_workflow_service: 'grpc' }),
    schedule: { interval: '700ms', timeout: '600ms', runs: 4 },
  },
  { fault: 'no_welcome', what: 'WebSocket 101, then no welcome', expect: healthyBut({ websocket_cable: 'timeout', duo_chat: 'timeout' }) },
  { fault: 'grpc_silent', what: 'gRPC request accepted, never answered', expect: healthyBut({ duo_workflow_service: 'timeout', agent_platform_client: 'timeout' }) },
  { fault: 'dns', what: 'names under .invalid (NXDOMAIN)', expect: healthyBut(all('dns')) },
  // The exporter has a proxy and Rails has none: proxy_env rightly reports the difference.
  { fault: 'proxy_407', what: 'the proxy answers 407', expect: healthyBut({ ...all('proxy'), proxy_env: 'requirement_not_met' }) },
  { fault: 'proxy_502', what: 'the proxy answers 502', expect: healthyBut({ ...all('proxy'), proxy_env: 'requirement_not_met' }) },
  {
    fault: 'env_fifo',
    what: 'proxy env files are FIFOs nobody writes',
    expect: healthyBut({}),
    // Five runs: more than libuv's four pool threads, which blocked FIFO reads used to take for good.
    schedule: { interval: '700ms', timeout: '600ms', runs: 5 },
  },
  { fault: 'env_huge', what: 'a 16 MiB proxy env file', expect: healthyBut({ proxy_env: 'requirement_not_met' }) },
];

// Generous for loopback: the suite runs two test files at once on two cores, and a healthy probe
// must not miss its deadline because the other file is busy.
const DEFAULT_SCHEDULE = { interval: '1500ms', timeout: '1s', runs: 2 };

interface Cell {
  readonly fault: Fault;
  readonly probe: string;
  readonly expected: Expect;
  readonly got: string;
  readonly ok: boolean;
}
const cells: Cell[] = [];
let leaksFound = 0;
let secretsFound = 0;
let placesScanned = 0;
const scrapeMax: number[] = [];

interface Target {
  readonly suffix: 'test' | 'invalid';
  readonly port: number;
  readonly proxy?: string;
}

function configYaml(target: Target, caFile: string, dirs: { rails: string; workhorse: string }, schedule: { interval: string; timeout: string }): string {
  const host = (name: string): string => `${name}.${INSTANCE}.${target.suffix}`;
  const authority = (name: string): string => `${host(name)}:${target.port}`;
  const instance: Record<string, unknown> = {
    name: INSTANCE,
    url: `https://${authority(HOSTS.gitlab)}`,
    admin_token: ADMIN_TOKEN,
    duo_user_token: DUO_TOKEN,
    agent_platform_token: AGENT_TOKEN,
    tls: { ca_file: caFile },
    endpoints: {
      customers_portal: `https://${authority(HOSTS.customers)}`,
      cloud_connector: `https://${authority(HOSTS.cloud)}`,
      duo_workflow_service: authority(HOSTS.dws),
      ai_gateway: `https://${authority(HOSTS.aigw)}`,
    },
    proxy_env: { rails_env_dir: dirs.rails, workhorse_env_dir: dirs.workhorse },
  };
  // The proxy resolves names itself (and knows none of these); without one, pin them to loopback.
  if (target.proxy) instance.proxy = { url: target.proxy, no_proxy: [] };
  else if (target.suffix === 'test') instance.resolve = Object.fromEntries(Object.values(HOSTS).map((h) => [authority(h), LOOPBACK]));
  return stringify({
    instances: [instance],
    // required: every probe runs whatever GitLab's capabilities turn out to be (each cell needs a run).
    defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, { interval: schedule.interval, timeout: schedule.timeout, required: true }])) },
    web: { listen_address: `${LOOPBACK}:0` },
  });
}

/** Starts what the row's fault needs and says where the probes must go (and how to close it). */
async function peerFor(fault: Fault, cert: { keyPem: string; chainPem: string }): Promise<Target & { close(): Promise<void> }> {
  switch (fault) {
    case 'hang': {
      const server = await startSilentServer();
      return { suffix: 'test', port: server.port, close: server.close };
    }
    case 'tls_garbage': {
      const server = await startGarbageServer();
      return { suffix: 'test', port: server.port, close: server.close };
    }
    case 'dns':
      return { suffix: 'invalid', port: 443, close: async () => undefined };
    case 'proxy_407': {
      const proxy = await startConnectProxy({ mode: 'auth', user: 'prober', password: 'not-the-one-sent' });
      return { suffix: 'test', port: 443, proxy: proxy.url, close: proxy.close };
    }
    case 'proxy_502': {
      // The proxy knows no name: every CONNECT ends in 502 Bad Gateway.
      const proxy = await startConnectProxy({ mode: 'allow', hosts: {} });
      return { suffix: 'test', port: 443, proxy: proxy.url, close: proxy.close };
    }
    default: {
      const server = await startFaultServer({ cert, fault: fault === 'env_fifo' || fault === 'env_huge' ? 'healthy' : fault, shapes: await realShapes() });
      return { suffix: 'test', port: server.port, close: server.close };
    }
  }
}

/** The env folders proxy_env compares; the env rows plant their fault in them. */
function envDirs(dir: string, fault: Fault): { rails: string; workhorse: string; fifos: string[] } {
  const rails = join(dir, 'rails');
  const workhorse = join(dir, 'workhorse');
  mkdirSync(rails);
  mkdirSync(workhorse);
  const fifos: string[] = [];
  if (fault === 'env_fifo') {
    for (const path of [join(rails, 'HTTPS_PROXY'), join(workhorse, 'https_proxy')]) {
      execFileSync('mkfifo', [path]);
      fifos.push(path);
    }
  }
  if (fault === 'env_huge') writeFileSync(join(rails, 'HTTPS_PROXY'), Buffer.alloc(16 * 1024 * 1024, 'h'));
  return { rails, workhorse, fifos };
}

/** Opens each FIFO for writing, which releases any reader still blocked in open(2). */
function releaseFifos(fifos: readonly string[]): void {
  for (const path of fifos) {
    try {
      closeSync(openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    } catch {
      // ENXIO: no reader is waiting, nothing to release.
    }
  }
}

describe('fault matrix: every probe against every fault, through the running daemon', () => {
  afterAll(() => {
    const failed = cells.filter((c) => !c.ok);
    // The healthy control row proves the harness, it is no fault: counted apart.
    const faulty = cells.filter((c) => c.fault !== 'healthy');
    const control = cells.filter((c) => c.fault === 'healthy');
    const faults = [...new Set(faulty.map((c) => c.fault))];
    const lines = [
      `probe × fault cells: ${faulty.length} (${faults.length} faults × ${PROBE_NAMES.length} probes), ended as expected: ${faulty.filter((c) => c.ok).length}; control row (healthy peer): ${control.filter((c) => c.ok).length}/${control.length} passed`,
      `slowest /metrics scrape while faults ran: ${Math.max(0, ...scrapeMax).toFixed(1)} ms`,
      ...failed.map((c) => `MISMATCH ${c.fault} × ${c.probe}: expected ${c.expected}, got ${c.got}`),
    ];
    console.log(`[reliability] fault matrix\n  ${lines.join('\n  ')}`);
    writeFigures(REPO, 'fault-matrix', {
      part: 'fault matrix',
      faultsTried: faulty.length,
      faultsSurvived: faulty.filter((c) => c.ok).length,
      leaksFound,
      secretPlacesScanned: placesScanned,
      secretsFound,
      lines: [...lines, '', ...matrixTable()],
    });
  });

  it.each(ROWS.map((r) => [r.fault, r] as const))('%s', async (_name, row) => {
    const schedule = row.schedule ?? DEFAULT_SCHEDULE;
    const baseline = resources();
    const dir = mkdtempSync(join(tmpdir(), 'gde-faults-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const pki = await createPki({ dns: Object.values(HOSTS).map((h) => `${h}.${INSTANCE}.test`) });
    writeFileSync(join(dir, 'ca.pem'), pki.ca.certPem);
    const dirs = envDirs(dir, row.fault);
    onTestFinished(() => releaseFifos(dirs.fifos));
    const target = await peerFor(row.fault, { keyPem: pki.valid.keyPem, chainPem: pki.valid.chainPem });
    const { app, logs } = await startDaemon(configYaml(target, join(dir, 'ca.pem'), dirs, schedule));
    let stopped = false;
    onTestFinished(async () => {
      if (!stopped) await app.stop();
    });

    const rateLimited = new Set(row.fault === 'rate_limited' ? API : []);
    const enough = (): boolean =>
      PROBE_NAMES.every((p) => history(app, INSTANCE, p).length >= (rateLimited.has(p) ? 1 : schedule.runs)) &&
      // Long enough for a deferred probe to have been due again at least once.
      (rateLimited.size === 0 || PROBE_NAMES.every((p) => rateLimited.has(p) || history(app, INSTANCE, p).length >= 3));
    const seen = await watch(app, enough, 10_000);
    const exposition = seen.exposition;
    // The FIFO row: file reads and DNS (both on libuv's thread pool) must still work now.
    if (row.fault === 'env_fifo') {
      await expect(Promise.race([lookup('localhost'), sleep(1000).then(() => 'thread pool exhausted')])).resolves.not.toBe('thread pool exhausted');
    }
    stopped = true;
    await app.stop();

    expect.soft(seen.unhealthy, 'the daemon answered /metrics and /-/healthy').toEqual([]);
    expect.soft(Math.max(...seen.scrapeMs), '/metrics answered within 2 s').toBeLessThan(2000);
    scrapeMax.push(Math.max(...seen.scrapeMs));
    const samples = parseExposition(exposition);
    for (const probe of PROBE_NAMES) {
      const expected = row.expect[probe] ?? 'ok';
      const runs = history(app, INSTANCE, probe);
      const got = runs.map((r) => r.reason ?? 'ok');
      const ok = runs.length > 0 && got.every((g) => g === expected);
      cells.push({ fault: row.fault, probe, expected, got: [...new Set(got)].join('|') || 'no run', ok });
      expect.soft(got.length, `${probe}: ran`).toBeGreaterThan(0);
      expect.soft([...new Set(got)], `${probe}: every run ends with the expected reason (${runs.at(-1)?.message})`).toEqual([expected]);
      for (const run of runs) expect.soft(run.durationSeconds, `${probe}: within its deadline`).toBeLessThanOrEqual(run.timeoutSeconds + DEADLINE_SLACK_SECONDS);
      expect.soft(overlaps(runs), `${probe}: no run overlaps the previous one`).toBe(0);
      if (rateLimited.has(probe)) expect.soft(runs.length, `${probe}: Retry-After defers the next run`).toBe(1);
      // What /metrics says is what happened (the last scrape may precede the very last run).
      const reasons = samples.filter((s) => s.name === 'gitlab_duo_probe_failure_reason' && s.labels.probe === probe && s.value === 1).map((s) => s.labels.reason);
      expect.soft(reasons, `${probe}: the failure_reason one-hot`).toEqual(expected === 'ok' ? [] : [expected]);
    }

    // Tokens never leave through what a fault makes the exporter say.
    const said = [...logs, exposition, ...PROBE_NAMES.flatMap((p) => history(app, INSTANCE, p).map((r) => r.message))].join('\n');
    // Three outputs a row: the debug log, /metrics, the results' messages.
    placesScanned += 3;
    for (const token of [ADMIN_TOKEN, DUO_TOKEN, AGENT_TOKEN]) {
      if (said.includes(token)) secretsFound++;
      expect.soft(said, 'no token in logs, messages or metrics').not.toContain(token);
    }

    releaseFifos(dirs.fifos);
    // The peers would close when the test finishes; close them now so their sockets count too.
    await target.close();
    const leaks = await leaksSince(baseline);
    leaksFound += Object.values(leaks).reduce((a, b) => a + b, 0);
    expect(leaks, 'sockets, timers and pending requests back to their baseline').toEqual({});
  });
});

function matrixTable(): string[] {
  const faults = [...new Set(cells.map((c) => c.fault))];
  const header = `| probe | ${faults.join(' | ')} |`;
  const rule = `|---|${faults.map(() => '---').join('|')}|`;
  const rows = PROBE_NAMES.map((probe) => {
    const line = faults.map((fault) => {
      const cell = cells.find((c) => c.fault === fault && c.probe === probe);
      if (!cell) return '';
      const text = cell.got === 'ok' ? 'ok' : cell.got;
      return cell.ok ? text : `**${text}** (want ${cell.expected})`;
    });
    return `| ${probe} | ${line.join(' | ')} |`;
  });
  return [header, rule, ...rows];
}
