import { Command, Option } from 'commander';
import { startApp } from './app.js';
import { addDemoCommands } from './demo-commands.js';
import { runCheck } from './check.js';
import type { Config, LogFormat, LogLevel } from './config/schema.js';
import { loadConfig } from './config/source.js';
import { ConfigError } from './errors.js';
import { createLogger } from './log.js';
import { renderReport, type ReportFormat } from './report/render.js';
import { shutdownSignal } from './signals.js';
import { VERSION } from './version.js';

/** Exit codes of config.md: 0 ready/ok, 1 a required probe failed, 2 config or usage error. */
export const EXIT = { ok: 0, notReady: 1, usage: 2 } as const;

interface CommonFlags {
  'config.file'?: string;
  'log.level'?: LogLevel;
  'log.format'?: LogFormat;
}

/** Parses argv and runs a command; resolves with the exit code (serve resolves on shutdown). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  let code: number = EXIT.ok;
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.action(async (flags: CommonFlags & ServeFlags & { 'config.check'?: boolean }) => {
    code = flags['config.check'] ? await checkConfigOnly(flags) : await serve(flags);
  });
  program
    .command('check')
    .description('run every enabled probe once and print the readiness report (exit 0 ready, 1 not ready, 2 config error)')
    .addOption(new Option('--format <format>', 'report format').choices(['text', 'markdown', 'json']).default('text'))
    .option('--probe <name...>', 'only these probes (repeatable)')
    .action(async (flags: { format: ReportFormat; probe?: string[] }) => {
      code = await check({ ...program.opts<CommonFlags>(), ...flags });
    });
  addDemoCommands(program, (c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const exitCode = (err as { exitCode?: number }).exitCode;
    if ((err as { code?: string }).code === 'commander.helpDisplayed' || (err as { code?: string }).code === 'commander.version') return EXIT.ok;
    if (exitCode !== undefined) return EXIT.usage;
    throw err;
  }
  return code;
}

function buildProgram(): Command {
  return new Command('gitlab-duo-exporter')
    .description('Prometheus exporter that keeps checking that GitLab Duo works on a GitLab Self-Managed instance')
    .version(VERSION, '--version')
    .option('--config.file <path>', 'YAML config file (default: a single instance from GITLAB_URL and the token variables)')
    .option('--config.check', 'validate the config and exit (0 valid, 2 invalid)')
    .option('--web.listen-address <address>', 'address to listen on, [host]:port (default :10420)')
    .option('--web.config.file <path>', 'exporter-toolkit web config: TLS, basic auth, security headers (docs/web-config.md)')
    .option('--web.enable-lifecycle', 'let POST /-/reload reload the config (SIGHUP always does)')
    .addOption(new Option('--log.level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']))
    .addOption(new Option('--log.format <format>', 'log format').choices(['json', 'logfmt', 'pretty']));
}

async function loadOrReport(flags: CommonFlags): Promise<Config | undefined> {
  const warnings: string[] = [];
  try {
    const config = await loadConfig(flags['config.file'], { warn: (m) => warnings.push(m) });
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    return config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return undefined;
  }
}

async function checkConfigOnly(flags: CommonFlags): Promise<number> {
  const config = await loadOrReport(flags);
  if (!config) return EXIT.usage;
  process.stdout.write(`config OK (${config.source}): ${config.instances.length} instance(s)\n`);
  return EXIT.ok;
}

interface ServeFlags {
  'web.listenAddress'?: string;
  'web.config.file'?: string;
  'web.enableLifecycle'?: boolean;
}

async function serve(flags: CommonFlags & ServeFlags): Promise<number> {
  const config = await loadOrReport(flags);
  if (!config) return EXIT.usage;
  const logger = createLogger({ level: flags['log.level'] ?? config.log.level, format: flags['log.format'] ?? config.log.format });
  const stopSignal = shutdownSignal();
  const app = await startApp({ config, configPath: flags['config.file'], logger, listenAddress: flags['web.listenAddress'], webConfigFile: flags['web.config.file'], enableLifecycle: flags['web.enableLifecycle'] === true }).catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return undefined;
    }
    throw err;
  });
  if (!app) return EXIT.usage;
  process.on('SIGHUP', () => void app.reload());
  const signal = await stopSignal;
  logger.info({ signal }, 'shutting down');
  await app.stop();
  return EXIT.ok;
}

async function check(flags: CommonFlags & { format: ReportFormat; probe?: string[] }): Promise<number> {
  const config = await loadOrReport(flags);
  if (!config) return EXIT.usage;
  const logger = createLogger({ level: flags['log.level'] ?? 'warn', format: flags['log.format'] ?? 'logfmt' });
  try {
    const report = await runCheck({ config, probes: flags.probe ?? [], logger });
    process.stdout.write(renderReport(report, flags.format));
    return report.ready ? EXIT.ok : EXIT.notReady;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return EXIT.usage;
  }
}
