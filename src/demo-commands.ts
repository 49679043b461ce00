import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { createLogger } from './log.js';
import { shutdownSignal } from './signals.js';
// Only the scenario names (a table with no imports) are needed to build the command line; the
// simulator itself (grpc-js, @peculiar/x509, its servers) is loaded by the two commands that run
// it, so that `serve` and `check` do not carry it: about 12 MB of RSS (docs/performance.md).
import { SCENARIO_NAMES, type ScenarioName } from './simulator/scenarios.js';
import type { LogFormat, LogLevel } from './config/schema.js';

interface Flags {
  'web.listenAddress'?: string;
  'log.level'?: LogLevel;
  'log.format'?: LogFormat;
  scenario?: ScenarioName;
  controlPort?: string;
  outputDir?: string;
  gitlabVersion?: string;
  deployment?: 'cloud' | 'self_hosted' | 'hybrid';
}

/** --gitlab-version and --deployment: the simulated world under every scenario. */
function baseConditions(flags: Flags) {
  return {
    ...(flags.gitlabVersion ? { version: flags.gitlabVersion } : {}),
    ...(flags.deployment ? { deployment: flags.deployment } : {}),
    // Duo Self-Hosted runs on an offline cloud licence that never synchronises.
    ...(flags.deployment === 'self_hosted' ? { licenseType: 'offline_cloud' as const, lastSyncAgeMs: null } : {}),
  };
}

const GITLAB_VERSION = /^\d{1,2}\.\d{1,2}(\.\d{1,3})?(-ee)?$/;

function gitlabVersionOption(): Option {
  return new Option('--gitlab-version <version>', 'the simulated GitLab release, e.g. 17.5.0-ee (default 18.9.0-ee)').argParser((value: string) => {
    if (!GITLAB_VERSION.test(value)) throw new InvalidArgumentError('must be a GitLab version such as 17.5.0-ee or 18.3');
    return value;
  });
}

function deploymentOption(): Option {
  return new Option('--deployment <profile>', 'how the simulated instance serves Duo').choices(['cloud', 'self_hosted', 'hybrid']).default('cloud');
}

/** Adds `demo` and `simulator` to the program; `setCode` receives the exit code. */
export function addDemoCommands(program: Command, setCode: (code: number) => void): void {
  const scenario = new Option('--scenario <name>', 'start in this simulator scenario').choices([...SCENARIO_NAMES]).default('healthy');
  program
    .command('demo')
    .description('start the built-in simulator and an exporter pointed at it, and print the URLs')
    .addOption(scenario)
    .addOption(gitlabVersionOption())
    .addOption(deploymentOption())
    .option('--control-port <port>', 'port of the simulator control endpoint (default: any free port)')
    .action(async (flags: Flags) => setCode(await demo({ ...program.opts<Flags>(), ...flags })));
  program
    .command('simulator')
    .description('run only the simulator (for fire drills against an exporter you run yourself)')
    .addOption(scenario)
    .addOption(gitlabVersionOption())
    .addOption(deploymentOption())
    .option('--control-port <port>', 'port of the simulator control endpoint (default: any free port)')
    .option('--output-dir <dir>', 'where to write the simulator CA and an exporter config for it', 'simulator-out')
    .action(async (flags: Flags) => setCode(await simulatorOnly({ ...program.opts<Flags>(), ...flags })));
}

async function demo(flags: Flags): Promise<number> {
  const logger = createLogger({ level: flags['log.level'] ?? 'warn', format: flags['log.format'] ?? 'pretty' });
  const stopSignal = shutdownSignal();
  const { demoBanner, startDemo } = await import('./demo.js');
  const running = await startDemo({
    listenAddress: flags['web.listenAddress'] ?? ':10420',
    scenario: flags.scenario,
    controlPort: flags.controlPort === undefined ? undefined : Number(flags.controlPort),
    base: baseConditions(flags),
    logger,
  });
  process.stdout.write(demoBanner(running));
  await stopSignal;
  await running.stop();
  return 0;
}

async function simulatorOnly(flags: Flags): Promise<number> {
  const logger = createLogger({ level: flags['log.level'] ?? 'info', format: flags['log.format'] ?? 'pretty' });
  const stopSignal = shutdownSignal();
  const { exporterInstanceConfig, startSimulator } = await import('./simulator/index.js');
  const sim = await startSimulator({
    scenario: flags.scenario,
    controlPort: flags.controlPort === undefined ? undefined : Number(flags.controlPort),
    base: baseConditions(flags),
    logger,
  });
  const dir = resolve(flags.outputDir ?? 'simulator-out');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'simulator-ca.pem');
  const configFile = join(dir, 'exporter-config.yaml');
  writeFileSync(caFile, sim.caPem, { mode: 0o600 });
  // The simulator's tokens are throw-away, but they still go only into a 0600 file, never stdout.
  writeFileSync(configFile, stringify({ instances: [exporterInstanceConfig(sim, caFile)] }), { mode: 0o600 });
  process.stdout.write(
    [
      `simulator running; control endpoint ${sim.controlUrl}/scenario`,
      `exporter config for it: ${configFile}`,
      `  gitlab-duo-exporter --config.file=${configFile}`,
      '',
    ].join('\n'),
  );
  await stopSignal;
  await sim.close();
  return 0;
}
