import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import { startApp, type App } from './app.js';
import { parseDuration } from './config/duration.js';
import { parseConfigText } from './config/load.js';
import { PROBES } from './probes/index.js';
import { exporterInstanceConfig, SCENARIOS, startSimulator, type Conditions, type ScenarioName, type Simulator } from './simulator/index.js';

export interface DemoOptions {
  readonly listenAddress: string;
  readonly scenario?: ScenarioName;
  readonly controlPort?: number;
  /** The simulated release and deployment (--gitlab-version, --deployment). */
  readonly base?: Partial<Conditions>;
  readonly logger: Logger;
}

export interface Demo {
  readonly simulator: Simulator;
  readonly app: App;
  stop(): Promise<void>;
}

// Short intervals so a newcomer sees every probe within seconds and a scenario switch within a
// minute: a probe that runs less often than that by default gets DEMO_SCHEDULE (the 30s and 60s of
// the network and inbound probes stay). The real defaults (docs/probes.md) are gentler on GitLab's quotas.
const DEMO_SCHEDULE = { interval: '10s', timeout: '5s' };
const DEMO_LONGEST_INTERVAL = '60s';

/** The config's `defaults.probes` for the demo: DEMO_SCHEDULE for every probe slower than DEMO_LONGEST_INTERVAL. */
function demoProbeSchedules(): Record<string, typeof DEMO_SCHEDULE> {
  const longest = parseDuration(DEMO_LONGEST_INTERVAL)!;
  const slower = PROBES.filter((p) => parseDuration(p.defaultInterval)! > longest);
  return Object.fromEntries(slower.map((p) => [p.name, DEMO_SCHEDULE]));
}

/**
 * `demo`: the simulator and an exporter pointed at it. The simulator's CA goes to a private temp
 * folder (removed on stop); its throw-away tokens stay in memory.
 */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const simulator = await startSimulator({ scenario: options.scenario, controlPort: options.controlPort, base: options.base, logger: options.logger });
  const dir = mkdtempSync(join(tmpdir(), 'gitlab-duo-exporter-demo-'));
  try {
    const caFile = join(dir, 'simulator-ca.pem');
    writeFileSync(caFile, simulator.caPem, { mode: 0o600 });
    const yaml = stringify({
      instances: [exporterInstanceConfig(simulator, caFile, 'simulator')],
      defaults: { probes: demoProbeSchedules() },
      web: { listen_address: options.listenAddress },
    });
    const config = await parseConfigText(yaml, 'demo', { env: {} });
    const app = await startApp({ config, configPath: undefined, logger: options.logger, listenAddress: options.listenAddress, maxStartJitterMs: 1000, reloadSource: () => parseConfigText(yaml, 'demo', { env: {} }) });
    return {
      simulator,
      app,
      async stop() {
        await app.stop();
        await simulator.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await simulator.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** What `demo` prints: where to look and how to break things on purpose. */
export function demoBanner(demo: Demo): string {
  const url = demo.app.url();
  const control = demo.simulator.controlUrl;
  return [
    'gitlab-duo-exporter demo: the exporter is probing a simulated GitLab instance with Duo.',
    '',
    `  status page   ${url}/`,
    `  metrics       ${url}/metrics`,
    `  report        ${url}/report.md`,
    `  simulator     ${control}/scenario`,
    '',
    'Switch the simulated world to a fault and watch the probes notice it, e.g.:',
    `  curl -X POST ${control}/scenario/silent_mode_on`,
    `  curl -X POST ${control}/scenario/healthy`,
    '',
    `Scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    'See docs/simulator.md. Stop with Ctrl-C.',
    '',
  ].join('\n');
}
