/**
 * Issue 14: a real Prometheus (Debian's) scrapes the exporter, which answers gzip-compressed as
 * Prometheus asks (`Accept-Encoding: gzip`); the scrape succeeds (`up` 1) and Prometheus read as
 * many samples as the exporter serves.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { closedPort } from '../helpers/ports.js';
import { startDaemon, type Daemon } from './daemon.js';
import { seriesOf } from './prometheus-api.js';
import { waitFor } from './wait.js';

const JOB = 'gzip-scrape';

let dir = '';
let app: App | undefined;
let prometheus: Daemon | undefined;
/** What each /metrics request asked for and got: Accept-Encoding in, Content-Encoding out. */
const scrapes: { userAgent: string | undefined; acceptEncoding: string | undefined; contentEncoding: unknown; accept: string | undefined }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gde-gzip-scrape-'));
  const port = await closedPort();
  // Probes every hour: after their first runs the exposition keeps its set of series.
  const probes = Object.fromEntries(['customers_portal', 'cloud_connector', 'duo_workflow_service'].map((p) => [p, { interval: '1h', timeout: '2s' }]));
  const yaml = stringify({
    instances: [{ name: 'lab', endpoints: { customers_portal: `https://127.0.0.1:${port}`, cloud_connector: `https://127.0.0.1:${port}`, duo_workflow_service: `127.0.0.1:${port}` } }],
    defaults: { probes },
    web: { listen_address: '127.0.0.1:0' },
  });
  app = await startApp({ config: await parseConfigText(yaml, 'gzip.yaml', { env: {} }), configPath: undefined, logger: silentLogger, env: {}, maxStartJitterMs: 0 });
  // A listener of the server's own: sees every request and, once sent, the answer's headers.
  app.server.prependListener('request', (req, res) => {
    if (!req.url?.startsWith('/metrics')) return;
    res.once('finish', () => scrapes.push({ userAgent: req.headers['user-agent'], acceptEncoding: req.headers['accept-encoding'], accept: req.headers.accept, contentEncoding: res.getHeader('content-encoding') }));
  });
  const target = new URL(app.url()).host;
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s' }, scrape_configs: [{ job_name: JOB, static_configs: [{ targets: [target] }] }] }),
  );
  prometheus = await startDaemon({
    command: 'prometheus',
    debianPackage: 'prometheus',
    args: (p) => [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${p}`, '--log.level=warn'],
  });
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await app?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Sample lines of an exposition: every line but comments (# HELP, # TYPE, # EOF) and blanks. */
function sampleCount(text: string): number {
  return text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
}

describe('Prometheus scraping the exporter with gzip', () => {
  it('up is 1, the answers were gzip, and Prometheus read every sample the exporter serves', async () => {
    const a = app!;
    const prom = prometheus!;
    const value = async (expr: string): Promise<number | undefined> => {
      const series = await seriesOf(prom.url, expr);
      return series[0]?.value ? Number(series[0].value[1]) : undefined;
    };
    // The exporter's own answer to the same Accept as Prometheus's, decompressed by fetch; the set
    // of series settles once the first probe runs are in, so the two counts meet.
    const result = await waitFor(
      'a gzip scrape with up 1 and the same sample count as the exporter serves',
      async () => {
        const up = await value(`up{job="${JOB}"}`);
        const scraped = await value(`scrape_samples_scraped{job="${JOB}"}`);
        const accept = scrapes.find((s) => s.userAgent?.startsWith('Prometheus/'))?.accept;
        if (up !== 1 || scraped === undefined || accept === undefined) return undefined;
        const served = sampleCount(await (await fetch(`${a.url()}/metrics`, { headers: { accept }, signal: AbortSignal.timeout(5000) })).text());
        return scraped === served ? { up, scraped } : undefined;
      },
      30_000,
      () => `${prom.log()}\nscrapes: ${JSON.stringify(scrapes.slice(-3))}`,
    );
    expect(result.up).toBe(1);
    expect(result.scraped).toBeGreaterThan(50);
    const fromPrometheus = scrapes.filter((s) => s.userAgent?.startsWith('Prometheus/'));
    expect(fromPrometheus.length).toBeGreaterThan(0);
    for (const scrape of fromPrometheus) {
      expect(scrape.acceptEncoding).toMatch(/\bgzip\b/);
      expect(scrape.contentEncoding).toBe('gzip');
    }
  }, 60_000);
});
