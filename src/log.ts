import { Writable } from 'node:stream';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogFormat, LogLevel } from './config/schema.js';

// Belt and braces: tokens are Secret objects that print as <redacted>, and these paths catch any
// raw header or token field that might still be logged by mistake.
const REDACT = ['*.token', '*.authorization', '*.Authorization', '*["private-token"]', '*["PRIVATE-TOKEN"]', 'headers.authorization', 'headers["private-token"]'];

export interface LogOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where lines go; default stderr, so `check` can print its report on stdout. */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(options: LogOptions): Logger {
  const out = options.destination ?? process.stderr;
  const destination: DestinationStream = options.format === 'json' ? (out as DestinationStream) : lineFormatter(options.format, out);
  return pino({ level: options.level, redact: { paths: REDACT, censor: '<redacted>' }, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** logfmt (`key=value`) or a human line (`time LEVEL msg key=value`), from pino's JSON. */
function lineFormatter(format: 'logfmt' | 'pretty', out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) out.write(`${formatLine(JSON.parse(line) as Record<string, unknown>, format)}\n`);
      }
      done();
    },
  }) as unknown as DestinationStream;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export function formatLine(entry: Record<string, unknown>, format: 'logfmt' | 'pretty'): string {
  const { time, level, msg, ...rest } = entry;
  const levelName = LEVEL_NAMES[level as number] ?? String(level);
  const pairs = Object.entries(rest).map(([k, v]) => `${k}=${quote(typeof v === 'string' ? v : JSON.stringify(v))}`);
  if (format === 'pretty') return [String(time), levelName.toUpperCase().padEnd(5), String(msg ?? ''), ...pairs].join(' ');
  return [`time=${quote(String(time))}`, `level=${levelName}`, `msg=${quote(String(msg ?? ''))}`, ...pairs].join(' ');
}

function quote(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}
