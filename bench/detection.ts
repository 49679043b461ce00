import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseDuration } from '../src/config/duration.js';
import type { BenchContext } from './lib/context.js';
import { fleetYaml, instanceName, startExporterChild, startSimulatorChild } from './lib/fleet.js';
import { httpText } from './lib/http.js';
import { freePort, sleep, waitFor } from './lib/proc.js';
import { REPO_DIR } from './lib/paths.js';
import { median } from './lib/stats.js';

/**
 * 5. Detection time. N instances at default intervals probe one simulator; a real Prometheus
 * scrapes the exporter and evaluates the shipped rules (alerts/gitlab-duo.rules.yml, unchanged).
 * At T0 the simulator switches to `customers_portal_down` (connections reset); we time, per
 * instance, the first failed customers_portal run, the alert going pending and, in the full run,
 * firing. The instances' start jitter spreads their phases, so they sample the whole interval.
 */

const SCENARIO = 'customers_portal_down';
const PROBE = 'customers_portal';
const ALERT = 'GitLabDuoNetworkProbeFailed';
const RULES_FILE = join(REPO_DIR, 'alerts', 'gitlab-duo.rules.yml');
const SCRAPE_INTERVAL_S = 10;
const EVALUATION_INTERVAL_S = 10;

export interface DetectionResult {
  readonly instances: number;
  readonly scenario: string;
  readonly alert: string;
  readonly alertForSeconds: number;
  readonly probeIntervalSeconds: number;
  readonly probeTimeoutSeconds: number;
  readonly scrapeIntervalSeconds: number;
  readonly evaluationIntervalSeconds: number;
  readonly waitedForFiring: boolean;
  /** Seconds from the fault, per instance (NaN where not seen before the deadline). */
  readonly probeFailed: number[];
  readonly pending: number[];
  readonly firing: number[];
  readonly prometheusVersion: string;
}

export async function runDetection(ctx: BenchContext): Promise<DetectionResult> {
  const instances = ctx.quick ? 4 : 8;
  const waitForFiring = !ctx.quick;
  const alertForSeconds = alertFor(ALERT);
  // The exporter's own defaults for the probe (docs/probes.md), not set in the config below.
  const probeIntervalSeconds = 30;
  const probeTimeoutSeconds = 10;
  const sim = await startSimulatorChild(ctx.pki.dir, 0);
  const exporter = await startExporterChild(fleetYaml(sim.instance, instances), { cpu: 1 });
  const prometheus = await startPrometheus(ctx.pki.dir, new URL(exporter.url).host);
  try {
    const query = async (q: string): Promise<number> => {
      const { body } = await httpText(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const result = (JSON.parse(body) as { data?: { result?: { value: [number, string] }[] } }).data?.result ?? [];
      return result.length ? Number(result[0]!.value[1]) : 0;
    };
    await waitFor('every instance healthy in Prometheus', async () => ((await query(`count(gitlab_duo_probe_success{probe="${PROBE}"} == 1)`)) === instances ? true : undefined), 120_000, 1000);
    ctx.log(`detection: all ${instances} instances healthy in Prometheus; switching the simulator to ${SCENARIO}`);
    const t0 = Date.now();
    await sim.scenario(SCENARIO);
    const pendingAt = new Map<string, number>();
    const firingAt = new Map<string, number>();
    let failedAt: Record<string, { finishedAt: number }> = {};
    const deadline = t0 + (waitForFiring ? probeIntervalSeconds + probeTimeoutSeconds + SCRAPE_INTERVAL_S + 2 * EVALUATION_INTERVAL_S + alertForSeconds + 60 : 120) * 1000;
    while (Date.now() < deadline) {
      failedAt = await exporter.child.request<Record<string, { finishedAt: number }>>('firstFailures', { probe: PROBE, since: t0 });
      const { body } = await httpText(`${prometheus.url}/api/v1/alerts`);
      const alerts = (JSON.parse(body) as { data: { alerts: { labels: Record<string, string>; state: string; activeAt: string }[] } }).data.alerts;
      for (const alert of alerts) {
        if (alert.labels.alertname !== ALERT || alert.labels.probe !== PROBE) continue;
        const gitlab = alert.labels.gitlab ?? '';
        if (!pendingAt.has(gitlab)) pendingAt.set(gitlab, Date.parse(alert.activeAt));
        if (alert.state === 'firing' && !firingAt.has(gitlab)) firingAt.set(gitlab, Date.now());
      }
      const done = waitForFiring ? firingAt.size >= instances : pendingAt.size >= instances && Object.keys(failedAt).length >= instances;
      if (done) break;
      await sleep(500);
    }
    const names = Array.from({ length: instances }, (_, i) => instanceName(i));
    const since = (at: number | undefined): number => (at === undefined ? Number.NaN : (at - t0) / 1000);
    return {
      instances,
      scenario: SCENARIO,
      alert: ALERT,
      alertForSeconds,
      probeIntervalSeconds,
      probeTimeoutSeconds,
      scrapeIntervalSeconds: SCRAPE_INTERVAL_S,
      evaluationIntervalSeconds: EVALUATION_INTERVAL_S,
      waitedForFiring: waitForFiring,
      probeFailed: names.map((n) => since(failedAt[n]?.finishedAt)),
      pending: names.map((n) => since(pendingAt.get(n))),
      firing: names.map((n) => since(firingAt.get(n))),
      prometheusVersion: prometheus.version,
    };
  } finally {
    await prometheus.stop();
    await exporter.stop();
    await sim.stop();
  }
}

/** The `for` of an alert in the shipped rules file, in seconds. */
function alertFor(name: string): number {
  const rules = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { rules: { alert?: string; for?: string }[] }[] };
  const rule = rules.groups.flatMap((g) => g.rules).find((r) => r.alert === name);
  if (!rule) throw new Error(`${RULES_FILE} has no alert ${name}`);
  return (parseDuration(rule.for ?? '0s') ?? 0) / 1000;
}

async function startPrometheus(dir: string, target: string): Promise<{ url: string; version: string; stop(): Promise<void> }> {
  const config = {
    global: { scrape_interval: `${SCRAPE_INTERVAL_S}s`, scrape_timeout: `${SCRAPE_INTERVAL_S}s`, evaluation_interval: `${EVALUATION_INTERVAL_S}s` },
    rule_files: [RULES_FILE],
    // The job name the shipped rules select on (GitLabDuoExporterDown and friends).
    scrape_configs: [{ job_name: 'gitlab-duo-exporter', static_configs: [{ targets: [target] }] }],
  };
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, stringify(config));
  const data = join(dir, 'prometheus-data');
  mkdirSync(data, { recursive: true });
  const port = await freePort();
  const child = spawn('prometheus', [`--config.file=${configFile}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {},
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString('utf8')}`.slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor('Prometheus to be ready', () => httpText(`${url}/-/ready`).then((r) => (r.status === 200 ? true : undefined), () => undefined), 30_000, 250);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  const build = await httpText(`${url}/api/v1/status/buildinfo`).then((r) => (JSON.parse(r.body) as { data?: { version?: string } }).data?.version ?? 'unknown', () => 'unknown');
  return {
    url,
    version: build,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const fmt = (values: number[]): string => {
  const seen = values.filter(Number.isFinite);
  if (seen.length === 0) return 'not seen';
  const missing = values.length - seen.length;
  return `${median(seen).toFixed(1)} / ${Math.max(...seen).toFixed(1)}${missing ? ` (${missing} not seen)` : ''}`;
};

export const DETECTION_HEADER = ['stage (seconds after the fault)', 'median / max', 'bound', 'within'];

export function detectionRows(r: DetectionResult): string[][] {
  const probeBound = r.probeIntervalSeconds + r.probeTimeoutSeconds;
  const pendingBound = probeBound + r.scrapeIntervalSeconds + r.evaluationIntervalSeconds;
  const firingBound = pendingBound + r.alertForSeconds + r.evaluationIntervalSeconds;
  const within = (values: number[], bound: number): string => {
    const seen = values.filter(Number.isFinite);
    return seen.length === values.length && seen.every((v) => v <= bound) ? 'yes' : seen.length < values.length ? 'not all seen' : 'no';
  };
  const rows = [
    [`${PROBE} run fails (gitlab_duo_probe_success 0)`, fmt(r.probeFailed), `interval + timeout = ${probeBound} s`, within(r.probeFailed, probeBound)],
    [`${r.alert} pending in Prometheus`, fmt(r.pending), `+ scrape + evaluation = ${pendingBound} s`, within(r.pending, pendingBound)],
  ];
  rows.push(
    r.waitedForFiring
      ? [`${r.alert} firing (for: ${r.alertForSeconds} s)`, fmt(r.firing), `+ for + evaluation = ${firingBound} s`, within(r.firing, firingBound)]
      : [`${r.alert} firing (for: ${r.alertForSeconds} s)`, 'not awaited in --quick', `+ for + evaluation = ${firingBound} s`, ''],
  );
  return rows;
}
