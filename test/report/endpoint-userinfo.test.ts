import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import type { LogFormat } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { renderReport } from '../../src/report/render.js';
import { buildReport } from '../../src/report/report.js';
import { closedPort } from '../helpers/servers.js';

/**
 * Issue 12, defect 7: credentials in endpoint and proxy URLs (`https://user:password@host`) reach
 * no output. Endpoints on a closed port fail on every run; the exporter logs every run at debug,
 * in each format, and the failures at warn with the result's target.
 */

const CREDENTIALS = ['duo-user', 'sentinel-s3cret', 'proxy-user', 'sentinel-proxy-pw'];

async function exporter(format: LogFormat, dead: number): Promise<{ app: App; logs: string[] }> {
  const endpoint = `https://duo-user:sentinel-s3cret@127.0.0.1:${dead}/`;
  const endpoints = { customers_portal: endpoint, cloud_connector: endpoint, ai_gateway: endpoint, duo_workflow_service: `127.0.0.1:${dead}` };
  const yaml = stringify({
    instances: [
      { name: 'direct', endpoints },
      // Through a proxy with credentials (that refuses the connection too).
      { name: 'proxied', endpoints, proxy: { url: `http://proxy-user:sentinel-proxy-pw@127.0.0.1:${dead}` } },
    ],
    defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, { interval: '5s', timeout: '2s' }])) },
    web: { listen_address: '127.0.0.1:0' },
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', format, destination });
  const app = await startApp({ config: await parseConfigText(yaml, 'userinfo.yaml', { env: {} }), configPath: undefined, logger, env: {}, maxStartJitterMs: 0 });
  onTestFinished(() => app.stop());
  return { app, logs };
}

describe('credentials in endpoint and proxy URLs', () => {
  it('are in no log line (debug, every format), /metrics, the status page, the reports or the results', async () => {
    const dead = await closedPort();
    const runs = await Promise.all((['json', 'logfmt', 'pretty'] as const).map(async (format) => [format, await exporter(format, dead)] as const));
    for (const [format, { app, logs }] of runs) {
      const planned = app.plan().probes.filter((p) => p.skippedBecause === undefined);
      expect(planned.map((p) => p.probe.name).sort()).toEqual(['ai_gateway', 'ai_gateway', 'cloud_connector', 'cloud_connector', 'customers_portal', 'customers_portal', 'duo_workflow_service', 'duo_workflow_service']);
      const until = Date.now() + 15_000;
      while (planned.some((p) => !app.store.get(p.instance.name, p.probe.name)?.last) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      const results = planned.map((p) => app.store.get(p.instance.name, p.probe.name)?.last);
      expect(results.every((r) => r !== undefined && !r.success)).toBe(true);
      expect(results.find((r) => r!.probe === 'customers_portal')!.target).toBe(`https://127.0.0.1:${dead}/`);

      const outputs: Record<string, string> = {
        results: JSON.stringify(results),
        'check (text)': renderReport(buildReport(app.plan(), app.store), 'text'),
        'check (markdown)': renderReport(buildReport(app.plan(), app.store), 'markdown'),
        logs: logs.join(''),
      };
      for (const path of ['/metrics', '/', '/report.json', '/report.md']) outputs[path] = await (await fetch(`${app.url()}${path}`)).text();
      // The failures were logged, at warn with the target, and every run at debug.
      expect(outputs.logs).toContain('probe failing');
      expect(outputs.logs).toContain('probe run');
      expect(outputs.logs).toContain(`127.0.0.1:${dead}`);
      for (const [where, output] of Object.entries(outputs)) {
        for (const secret of CREDENTIALS) expect(output, `${format} ${where}`).not.toContain(secret);
        expect(output, `${format} ${where}`).not.toMatch(/:\/\/[^\s/"'<>]*@/);
      }
    }
  });
});
