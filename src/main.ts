// First: the probe catalog registers the probe names and schedules the config reads (config/probe-catalog.ts).
import './probes/index.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startApp } from './app.js';
import { addDemoCommands } from './demo-commands.js';
import { runCheck } from './check.js';
import type { Config, LogFormat, LogLevel } from './config/schema.js';
import { loadConfig } from './config/source.js';
import { ConfigError, ListenError } from './core/errors.js';
import { createLogger } from './log.js';
import { renderReport, type ReportFormat } from './report/render.js';
import { shutdownSignal } from './signals.js';
import { versionText } from './core/version.js';

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
  program.action(async (command: string | undefined, flags: CommonFlags & ServeFlags & { 'config.check'?: boolean }) => {
    if (command !== undefined) unknownCommand(program, command);
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

/**
 * commander's Command, except that an unknown `--flag=value` is reported as `--flag` alone: then
 * it gets its "(Did you mean --config.file?)" like `--flag value` does, and the value (a path, or a
 * token typed into the wrong flag) is not echoed. Subcommands are made of the same class.
 */
class Program extends Command {
  override createCommand(name?: string): Program {
    return new Program(name);
  }

  // Not in commander's typings, but public in its source and called for every unknown option.
  unknownOption(flag: string): void {
    const base = Command.prototype as unknown as { unknownOption(this: Command, flag: string): void };
    base.unknownOption.call(this, flag.replace(/^(--[^=]+)=.*$/s, '$1'));
  }
}

function buildProgram(): Command {
  return (
    new Program('gitlab-duo-exporter')
      .description('Prometheus exporter that keeps checking that GitLab Duo works on a GitLab Self-Managed instance')
      .version(versionText(), '--version')
      // Inherited by the subcommands created after it: `check --help` lists the global options too.
      .configureHelp({ showGlobalOptions: true })
      // `serve` is the program's own action, so commander takes a first word that is no command for
      // an argument of it: this one catches it and reports an unknown command (unknownCommand).
      .argument('[command]')
      .usage('[options] [command]')
      .option('--config.file <path>', 'YAML config file (default: a single instance from GITLAB_URL and the token variables)')
      .option('--config.check', 'validate the config and exit (0 valid, 2 invalid)')
      .option('--web.listen-address <address>', 'address to listen on, [host]:port (default :10420)')
      .option('--web.config.file <path>', 'exporter-toolkit web config: TLS, basic auth, security headers (docs/web-config.md)')
      .option('--web.enable-lifecycle', 'let POST /-/reload reload the config (SIGHUP always does)')
      .addOption(anyCaseChoice('--log.level <level>', 'log level', ['debug', 'info', 'warn', 'error']))
      .addOption(anyCaseChoice('--log.format <format>', 'log format', ['json', 'logfmt', 'pretty']))
  );
}

/** A choice flag that takes any case (`--log.level=DEBUG`) and hands on the lower-case value. */
function anyCaseChoice(flags: string, description: string, choices: readonly string[]): Option {
  // choices() is kept for the help text; the parser replaces its case-sensitive check.
  return new Option(flags, description).choices(choices).argParser((value: string) => {
    const lower = value.toLowerCase();
    if (!choices.includes(lower)) throw new InvalidArgumentError(`Allowed choices are ${choices.join(', ')}.`);
    return lower;
  });
}

/**
 * commander's own "unknown command" error, with its "(Did you mean check?)" suggestion. It has no
 * public call for it; if that method goes away, the same error without the suggestion.
 */
function unknownCommand(program: Command, command: string): never {
  const commander = program as Command & { unknownCommand?: () => never };
  if (typeof commander.unknownCommand === 'function') commander.unknownCommand();
  program.error(`error: unknown command '${command}'`, { code: 'commander.unknownCommand' });
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
    if (err instanceof ConfigError || err instanceof ListenError) {
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
