import { Writable } from 'node:stream';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogFormat, LogLevel } from './config/schema.js';
import { escapeJsonText, hasUnsafeCharacters, visible } from './text/escape.js';
import { stripUserinfo } from './text/url.js';

// Belt and braces: tokens are Secret objects that print as <redacted>, and these paths catch any
// raw header or token field that might still be logged by mistake.
const REDACT = ['*.token', '*.authorization', '*.Authorization', '*["private-token"]', '*["PRIVATE-TOKEN"]', 'headers.authorization', 'headers["private-token"]'];

export interface LogOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where lines go; default stderr, so `check` can print its report on stdout. */
  readonly destination?: NodeJS.WritableStream;
}

/**
 * Every line goes through a formatter before it is written, in every format: URL userinfo is
 * removed (an endpoint or proxy URL with credentials in a target or an error), and the characters a
 * terminal or a log reader would act on are escaped (text/escape.ts), so one record is one line and
 * a server's text cannot forge a line or send escape sequences to whoever tails the log.
 */
export function createLogger(options: LogOptions): Logger {
  const out = options.destination ?? process.stderr;
  const destination: DestinationStream = options.format === 'json' ? jsonFilter(out) : lineFormatter(options.format, out);
  return pino({ level: options.level, redact: { paths: REDACT, censor: '<redacted>' }, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/**
 * pino's JSON lines, made safe and still the same JSON: userinfo removed (the pattern stops at a
 * quote and at whitespace, so it cannot cross a string's end) and the characters JSON.stringify
 * leaves raw written as \u escapes. Written synchronously, like the stream it wraps.
 */
function jsonFilter(out: NodeJS.WritableStream): DestinationStream {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.write(escapeJsonText(stripUserinfo(chunk.toString('utf8'))));
      done();
    },
  }) as unknown as DestinationStream;
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

/**
 * One log record as one line. Every value is stripped of URL userinfo (`target` above all) and
 * quoted when it holds a space, a quote, `=` or an unsafe character; the pretty format's message is
 * shown with visible escapes (`\n`, `\u001b`).
 */
export function formatLine(entry: Record<string, unknown>, format: 'logfmt' | 'pretty'): string {
  const { time, level, msg, ...rest } = entry;
  const levelName = LEVEL_NAMES[level as number] ?? String(level);
  const message = stripUserinfo(String(msg ?? ''));
  const pairs = Object.entries(rest).map(([k, v]) => `${visible(k)}=${quote(stripUserinfo(typeof v === 'string' ? v : String(JSON.stringify(v))))}`);
  if (format === 'pretty') return [visible(String(time)), levelName.toUpperCase().padEnd(5), visible(message), ...pairs].join(' ');
  return [`time=${quote(String(time))}`, `level=${visible(levelName)}`, `msg=${quote(message)}`, ...pairs].join(' ');
}

/** A logfmt value: bare when it is one plain word, else a JSON string with every unsafe character escaped. */
function quote(value: string): string {
  return /^[^\s"=]+$/.test(value) && !hasUnsafeCharacters(value) ? value : escapeJsonText(JSON.stringify(value));
}
