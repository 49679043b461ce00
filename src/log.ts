import { Writable } from 'node:stream';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogFormat, LogLevel } from './config/schema.js';
import { REDACTED } from './core/redact.js';
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
  return pino(
    {
      level: options.level,
      redact: { paths: REDACT, censor: REDACTED },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      // `"level":"warn"`, not `"level":40`: what log shippers and readers match on.
      formatters: { level: (label) => ({ level: label }), log: serializeErrors },
    },
    destination,
  );
}

/**
 * pino serializes an Error under `err` only; under any other key it would be written as `{}`. Any
 * other top-level Error value gets the same serializer (type, message with causes, stack, code).
 * `err` itself is left to pino: serializing it twice would turn its type into `Object`.
 */
function serializeErrors(record: Record<string, unknown>): Record<string, unknown> {
  let out = record;
  for (const [key, value] of Object.entries(record)) {
    if (key === 'err' || !(value instanceof Error)) continue;
    if (out === record) out = { ...record };
    out[key] = pino.stdSerializers.err(value);
  }
  return out;
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
 * shown with visible escapes (`\n`, `\u001b`). Structured values become plain fields (fieldPairs).
 */
export function formatLine(entry: Record<string, unknown>, format: 'logfmt' | 'pretty'): string {
  const { time, level, msg, ...rest } = entry;
  const levelName = typeof level === 'number' ? (LEVEL_NAMES[level] ?? String(level)) : String(level);
  const message = stripUserinfo(String(msg ?? ''));
  const pairs = Object.entries(rest)
    .flatMap(([k, v]) => fieldPairs(k, v, 0))
    .map(([k, v]) => `${logKey(k)}=${quote(stripUserinfo(v))}`);
  if (format === 'pretty') return [visible(String(time)), levelName.toUpperCase().padEnd(5), visible(message), ...pairs].join(' ');
  return [`time=${quote(String(time))}`, `level=${visible(levelName)}`, `msg=${quote(message)}`, ...pairs].join(' ');
}

// Nested objects deeper than this stay one JSON value: a log line is not a document.
const MAX_DEPTH = 3;

/**
 * The key=value fields of one record field, as logfmt readers (go-kit, Loki, lnav) expect them:
 * - a list is one value of comma-separated items (`probes=a,b,c`); an item holding a comma or a
 *   quote is quoted CSV-style (`"a, b"`, inner quotes doubled), so the list splits back unambiguously;
 * - an error (pino's serialized form) is `err="message" err_type=TypeError`, plus `err_code` when
 *   it has one; its stack stays in the JSON format, which a single line cannot carry readably;
 * - an object is flattened to dotted keys (`phases.connect=0.01`).
 */
export function fieldPairs(key: string, value: unknown, depth: number): [string, string][] {
  if (value === null || typeof value !== 'object') return [[key, String(value)]];
  if (Array.isArray(value)) return [[key, value.map(listItem).join(',')]];
  const record = value as Record<string, unknown>;
  if (isSerializedError(record)) return errorPairs(key, record);
  const entries = Object.entries(record);
  if (entries.length === 0 || depth >= MAX_DEPTH) return [[key, JSON.stringify(record)]];
  return entries.flatMap(([k, v]) => fieldPairs(`${key}.${k}`, v, depth + 1));
}

function listItem(item: unknown): string {
  const text = item !== null && typeof item === 'object' ? JSON.stringify(item) : String(item);
  return /[",]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function isSerializedError(value: Record<string, unknown>): boolean {
  return typeof value.type === 'string' && typeof value.message === 'string' && typeof value.stack === 'string';
}

function errorPairs(key: string, err: Record<string, unknown>): [string, string][] {
  const pairs: [string, string][] = [
    [key, String(err.message)],
    [`${key}_type`, String(err.type)],
  ];
  if (typeof err.code === 'string' || typeof err.code === 'number') pairs.push([`${key}_code`, String(err.code)]);
  return pairs;
}

/** A key as logfmt allows it: no space, `=` or quote (a key from data could hold one), and visible. */
function logKey(key: string): string {
  return visible(key.replace(/[\s="]/g, '_'));
}

/** A logfmt value: bare when it is one plain word, else a JSON string with every unsafe character escaped. */
function quote(value: string): string {
  return /^[^\s"=]+$/.test(value) && !hasUnsafeCharacters(value) ? value : escapeJsonText(JSON.stringify(value));
}
