/**
 * A fleet on loopback, for test/e2e/fleet.test.ts: one simulated GitLab, two exporters of it (two
 * "GitLab nodes", both labelling it gitlab="simulator"), one of them behind a proxy that is down,
 * a real Prometheus scraping both with the scrape config docs/deployment.md#fleet documents, a real
 * Alertmanager with the example's routing and inhibition, and a webhook receiver.
 */

/** A node's forward proxy that refuses every CONNECT (403), as one whose allow-list lacks GitLab's hosts. */
async function startRefusingProxy(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.writeHead(405, { connection: 'close' }).end());
  server.on('connect', (_req, socket) => {
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close };
}
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { App } from '../../src/app.js';
import { SIMULATOR_HOSTS, exporterInstanceConfig, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { readText, yamlBlocksOf } from '../assets/helpers.js';
import { requireCommands, type Daemon } from './daemon.js';
import { ALERTMANAGER, INSTANCE, PROMETHEUS, omnibusNode, startAlertmanager, startExporter, startPrometheus, type StaticConfig } from './stack.js';
import { startWebhook, type Webhook } from './webhook.js';

export interface FleetNode {
  readonly app: App;
  /** Its `instance` label, from the documented scrape config: the node's name. */
  readonly instance: string;
}

export interface Fleet {
  readonly sim: Simulator;
  /** Passes every probe. */
  readonly healthy: FleetNode;
  /** Its outbound probes go through a proxy that refuses them, as does its GitLab. */
  readonly broken: FleetNode;
  readonly prometheus: Daemon;
  readonly alertmanager: Daemon;
  readonly webhook: Webhook;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * The first scrape config of docs/deployment.md#fleet (static targets, `instance` set to the node's
 * name), its first two target groups pointed at the two exporters.
 */
export function documentedTargets(exporters: readonly string[]): StaticConfig[] {
  const [block] = yamlBlocksOf(readText('docs/deployment.md'), 'Fleet').filter((b) => b.includes('static_configs:'));
  const groups = (parse(block ?? '') as { scrape_configs: { static_configs: StaticConfig[] }[] }).scrape_configs[0]?.static_configs ?? [];
  if (groups.length < exporters.length || groups.some((g) => !g.labels?.instance)) throw new Error('docs/deployment.md#fleet: no static targets labelled with instance');
  return exporters.map((target, i) => ({ targets: [target], labels: groups[i]!.labels! }));
}

/**
 * The node behind the refusing proxy: the exporter's outbound probes go through it (the GitLab host
 * bypasses it, as NO_PROXY usually has it), and so do that node's Rails and Workhorse (their env
 * folders name it), so proxy_env agrees and only the paths out fail.
 */
function brokenNodeConfig(sim: Simulator, caFile: string, dir: string, proxyUrl: string): Record<string, unknown> {
  const node = omnibusNode(dir);
  for (const envDir of Object.values(node.proxyEnv)) writeFileSync(join(envDir, 'HTTPS_PROXY'), proxyUrl);
  return {
    ...exporterInstanceConfig(sim, caFile, INSTANCE),
    proxy: { url: proxyUrl, no_proxy: [SIMULATOR_HOSTS.gitlab] },
    proxy_env: node.proxyEnv,
  };
}

export async function startFleet(): Promise<Fleet> {
  requireCommands([PROMETHEUS, ALERTMANAGER]);
  const closers: (() => Promise<void> | void)[] = [];
  const daemons: Daemon[] = [];
  const stop = async () => {
    for (const close of closers.splice(0).reverse()) {
      await Promise.resolve()
        .then(close)
        .catch((err: unknown) => console.error('fleet e2e cleanup:', err));
    }
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), 'gitlab-duo-fleet-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const webhook = await startWebhook();
    closers.push(() => webhook.close());
    const sim = await startSimulator({});
    closers.push(() => sim.close());
    const caFile = join(dir, 'simulator-ca.pem');
    writeFileSync(caFile, sim.caPem, { mode: 0o600 });

    const healthyApp = await startExporter({ ...exporterInstanceConfig(sim, caFile, INSTANCE), proxy_env: omnibusNode(join(dir, 'node-a')).proxyEnv });
    closers.push(() => healthyApp.stop());
    const proxy = await startRefusingProxy();
    closers.push(() => proxy.close());
    const brokenApp = await startExporter(brokenNodeConfig(sim, caFile, join(dir, 'node-b'), proxy.url));
    closers.push(() => brokenApp.stop());
    const targets = documentedTargets([healthyApp, brokenApp].map((a) => new URL(a.url()).host));

    const alertmanager = await startAlertmanager(join(dir, 'alertmanager'), webhook.url);
    daemons.push(alertmanager);
    closers.push(() => alertmanager.stop());
    const prometheus = await startPrometheus(join(dir, 'prometheus'), alertmanager, targets);
    daemons.push(prometheus);
    closers.push(() => prometheus.stop());

    const [healthy, broken] = [healthyApp, brokenApp].map((app, i) => ({ app, instance: targets[i]!.labels!.instance! }));
    return { sim, healthy: healthy!, broken: broken!, prometheus, alertmanager, webhook, logs: () => daemons.map((d) => d.log()).join('\n'), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
