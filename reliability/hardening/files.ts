import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { startApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/source.js';
import type { HardeningFigures } from '../lib/hardening.js';

/**
 * Issue #12, hostile files: the exporter (in this process, so its event loop and memory are what
 * is measured) is reloaded with a FIFO as `admin_token_file`, then with `/dev/zero` as
 * `tls.ca_file`. While each reload runs, `/-/healthy` is asked every 50 ms; an answer's time counts
 * from when the question was due, so a frozen event loop shows as a slow answer even if it froze
 * between two questions. Goals: both reloads refused, every answer within 1 s, RSS growth under
 * 50 MB. So that the measurement also ends on a build that blocks on the FIFO, a writer process
 * opens it 5 s after the reload started (on a fixed build nothing reads it; the writer is killed).
 */

const POLL_EVERY_MS = 50;
const MAX_ANSWER_MS = 1000;
const MAX_RSS_GROWTH_MB = 50;
/** Unblocks a reader stuck on the FIFO, so a blocking build is measured rather than hung. */
const FIFO_WRITER_DELAY_S = 5;
/** Questions keep coming this long after the reload returned (a late effect shows too). */
const AFTER_MS = 500;

const MB = 1024 * 1024;

interface Case {
  readonly title: string;
  /** Lines added under `instances[0]`. */
  readonly lines: readonly string[];
}

interface Outcome {
  readonly accepted: boolean;
  readonly message: string;
  readonly reloadMs: number;
  readonly maxAnswerMs: number;
  readonly answers: number;
  readonly failures: number;
  readonly rssBefore: number;
  readonly rssDuring: number;
  readonly rssAfter: number;
  /** Growth of the process's peak RSS (getrusage maxrss) over the reload: what samples can miss. */
  readonly peakGrowth: number;
}

export async function measureHostileFiles(): Promise<HardeningFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'gde-hostile-files-'));
  const configPath = join(dir, 'config.yaml');
  const fifo = join(dir, 'admin-token.fifo');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  writeConfig(configPath, []);
  const app = await startApp({ config: await loadConfig(configPath, { env: {} }), configPath, logger: pino({ level: 'silent' }), env: {}, maxStartJitterMs: 0 });
  const cases: Case[] = [
    { title: 'a FIFO as admin_token_file', lines: [`    admin_token_file: ${fifo}`] },
    { title: '/dev/zero as tls.ca_file', lines: ['    tls: { ca_file: /dev/zero }'] },
  ];
  const lines: string[] = [];
  const problems: string[] = [];
  const writers: ChildProcess[] = [];
  try {
    for (const c of cases) {
      writeConfig(configPath, c.lines);
      if (c.lines.some((l) => l.includes(fifo))) writers.push(delayedWriter(fifo));
      const o = await measureReload(app);
      lines.push(
        `${c.title}: reload ${o.accepted ? 'ACCEPTED' : 'refused'} in ${o.reloadMs.toFixed(0)} ms${o.accepted ? '' : ` (${o.message.split('\n').slice(1).map((l) => l.replace(/^\s*- /, '')).join('; ')})`}`,
        `  /-/healthy every ${POLL_EVERY_MS} ms: ${o.answers} answers, slowest ${o.maxAnswerMs.toFixed(0)} ms${o.failures > 0 ? `, ${o.failures} failed` : ''}`,
        `  RSS before ${mb(o.rssBefore)}, during ${mb(o.rssDuring)} (peak +${mb(o.peakGrowth)}), after ${mb(o.rssAfter)}`,
      );
      if (o.accepted) problems.push(`${c.title}: the reload was accepted`);
      if (o.maxAnswerMs > MAX_ANSWER_MS || o.failures > 0) problems.push(`${c.title}: /-/healthy took ${o.maxAnswerMs.toFixed(0)} ms to answer (goal: within ${MAX_ANSWER_MS} ms)`);
      const growth = Math.max(o.rssDuring, o.rssAfter, o.rssBefore + o.peakGrowth) - o.rssBefore;
      if (growth > MAX_RSS_GROWTH_MB * MB) problems.push(`${c.title}: RSS grew by ${mb(growth)} (goal: under ${MAX_RSS_GROWTH_MB} MB)`);
      // Back to the valid config before the next case.
      writeConfig(configPath, []);
      await app.reload();
    }
  } finally {
    for (const w of writers) stopWriter(w);
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { title: 'hostile files (FIFO token file, /dev/zero CA file) on reload', lines, problems };
}

async function measureReload(app: App): Promise<Outcome> {
  const url = `${app.url()}/-/healthy`;
  global.gc?.();
  const rssBefore = process.memoryUsage.rss();
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  let rssDuring = rssBefore;
  let maxAnswerMs = 0;
  let answers = 0;
  let failures = 0;
  let reloading = true;
  let stopAt = Infinity;
  const poller = (async () => {
    const t0 = performance.now();
    for (let k = 0; performance.now() < stopAt; k++) {
      const due = t0 + k * POLL_EVERY_MS;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const ok = await get(url);
      const took = performance.now() - due;
      answers++;
      if (!ok) failures++;
      maxAnswerMs = Math.max(maxAnswerMs, took);
      if (reloading) rssDuring = Math.max(rssDuring, process.memoryUsage.rss());
    }
  })();
  const started = performance.now();
  const message = await app.reload();
  const reloadMs = performance.now() - started;
  rssDuring = Math.max(rssDuring, process.memoryUsage.rss());
  reloading = false;
  stopAt = performance.now() + AFTER_MS;
  await poller;
  const peakGrowth = Math.max(0, process.resourceUsage().maxRSS * 1024 - peakBefore);
  global.gc?.();
  return { accepted: message === undefined, message: message ?? '', reloadMs, maxAnswerMs, answers, failures, rssBefore, rssDuring, rssAfter: process.memoryUsage.rss(), peakGrowth };
}

function get(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** A valid config: one instance with network probes against a closed port, nothing to detect. */
function writeConfig(path: string, extra: readonly string[]): void {
  const closed = 'https://127.0.0.1:9';
  writeFileSync(
    path,
    [
      'instances:',
      '  - name: lab',
      ...extra,
      '    endpoints:',
      `      customers_portal: ${closed}`,
      `      cloud_connector: ${closed}`,
      '      duo_workflow_service: 127.0.0.1:9',
      'defaults:',
      '  probes:',
      '    customers_portal: { interval: 1s, timeout: 500ms }',
      'web:',
      '  listen_address: 127.0.0.1:0',
      '',
    ].join('\n'),
  );
}

function delayedWriter(fifo: string): ChildProcess {
  // Its own process group, so that stopping it also stops the `sleep` it runs.
  return spawn('sh', ['-c', `sleep ${FIFO_WRITER_DELAY_S}; printf 'unblocked-by-the-measurement' > "$1"`, 'sh', fifo], { stdio: 'ignore', detached: true });
}

function stopWriter(child: ChildProcess): void {
  if (child.exitCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;
