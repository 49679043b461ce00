import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { startDemo } from '../src/demo.js';
import { buildReport } from '../src/report/report.js';
import { silentLogger } from './helpers/fake-probe.js';

const BIN = new URL('../bin/gitlab-duo-exporter.js', import.meta.url).pathname;

async function waitFor<T>(get: () => T | undefined, what: string, limitMs = 30_000): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('demo', () => {
  it('every probe passes against the healthy simulator, and a scenario switch shows up', async () => {
    const demo = await startDemo({ listenAddress: '127.0.0.1:0', logger: silentLogger });
    try {
      const report = await waitFor(() => {
        const r = buildReport(demo.app.plan(), demo.app.store);
        return r.instances[0]!.probes.every((p) => p.status !== 'pending') ? r : undefined;
      }, 'every probe to run once');
      const failing = report.instances[0]!.probes.filter((p) => p.status === 'fail').map((p) => `${p.name}: ${p.message}`);
      expect(failing).toEqual([]);
      expect(report.ready).toBe(true);
      // A scenario switch shows within a minute: no probe keeps a slower default schedule here.
      const slow = demo.app.plan().probes.filter((p) => p.settings.schedule.kind !== 'every' || p.settings.schedule.ms > 60_000).map((p) => p.probe.name);
      expect(slow).toEqual([]);

      demo.simulator.setScenario('silent_mode_on');
      await waitFor(() => (demo.app.store.get('simulator', 'instance_settings')?.last?.success === false ? true : undefined), 'instance_settings to fail', 30_000);
      const metrics = await (await fetch(`${demo.app.url()}/metrics`)).text();
      expect(metrics).toContain('gitlab_duo_silent_mode_enabled{gitlab="simulator"} 1');
    } finally {
      await demo.stop();
    }
  }, 60_000);

  it('`gitlab-duo-exporter demo` prints where to look and stops cleanly on SIGINT', async () => {
    const child = spawn(process.execPath, [BIN, 'demo', '--web.listen-address=127.0.0.1:0'], { env: { PATH: process.env.PATH ?? '', HOME: tmpdir() } });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    await waitFor(() => (stdout.includes('Stop with Ctrl-C') ? true : undefined), 'the banner', 20_000);
    expect(stdout).toMatch(/status page\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(stdout).toContain('/scenario/silent_mode_on');
    child.kill('SIGINT');
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
  }, 30_000);
});
