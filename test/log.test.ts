import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { LogFormat } from '../src/config/schema.js';
import { createLogger, formatLine } from '../src/log.js';
import { HOSTILE, unsafeAt } from './report/hostile.js';

/**
 * Issue 12, defects 6 and 7, in the log formatter: a record is one line in every format, with no
 * raw control, bidi or line-separator character (a grpc-message or a GitLab error cannot forge a
 * line or send a terminal escape to whoever tails the log), and no URL carries its userinfo.
 */

function capture(format: LogFormat): { logger: ReturnType<typeof createLogger>; lines: () => string[]; raw: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', format, destination });
  return { logger, raw: () => chunks.join(''), lines: () => chunks.join('').split('\n').filter((l) => l !== '') };
}

const FORMATS = ['json', 'logfmt', 'pretty'] as const;
const TARGET = 'https://duo-user:s3cret-pw@127.0.0.1:1/';

describe('log lines', () => {
  it.each(FORMATS)('%s: server text in the message, in fields and nested, stays on one line with no raw control character', (format) => {
    const { logger, lines, raw } = capture(format);
    logger.warn({ probe: 'duo_workflow_service', reason: 'grpc', message: HOSTILE, detail: { grpcMessage: HOSTILE, list: [HOSTILE] }, bare: '\x1b[2J\u009b\u202e' }, `probe failing: ${HOSTILE}`);
    logger.debug(HOSTILE);
    expect(lines()).toHaveLength(2);
    expect(unsafeAt(raw().replace(/\n$/, '').replace(/\n(?=.)/g, ''))).toBeUndefined();
    for (const line of lines()) expect(line).not.toMatch(/^level=error/);
    if (format === 'json') {
      // The same JSON values: only escapes were added.
      const record = JSON.parse(lines()[0]!) as Record<string, unknown>;
      expect(record.message).toBe(HOSTILE);
      expect(record.msg).toBe(`probe failing: ${HOSTILE}`);
      expect(record.detail).toEqual({ grpcMessage: HOSTILE, list: [HOSTILE] });
    }
    if (format === 'logfmt') {
      // A quoted logfmt value is a JSON string: it reads back as sent.
      const line = lines()[0]!;
      expect(JSON.parse(/ msg=("(?:[^"\\]|\\.)*")/.exec(line)![1]!)).toBe(`probe failing: ${HOSTILE}`);
      expect(JSON.parse(/ message=("(?:[^"\\]|\\.)*")/.exec(line)![1]!)).toBe(HOSTILE);
      expect(line).toContain(String.raw`bare="\u001b[2J\u009b\u202e"`);
    }
    if (format === 'pretty') expect(lines()[1]).toMatch(/^\S+ DEBUG boom\\nlevel=error msg="forged line"\\r\\u001b\[2J/);
  });

  it.each(FORMATS)('%s: no URL userinfo, in target, other fields or the message', (format) => {
    const { logger, raw } = capture(format);
    logger.warn({ instance: 'a', probe: 'customers_portal', target: TARGET, proxy: 'http://proxy-user:proxy-pw@proxy.invalid:3128', nested: { url: TARGET } }, `probe failing: connect to ${TARGET} refused`);
    const out = raw();
    for (const secret of ['duo-user', 's3cret-pw', 'proxy-user', 'proxy-pw']) expect(out).not.toContain(secret);
    expect(out).toContain('https://127.0.0.1:1/');
    expect(out).toContain('http://proxy.invalid:3128');
    if (format === 'json') expect(JSON.parse(out).target).toBe('https://127.0.0.1:1/');
  });

  it('formatLine quotes a value that holds a control character even without a space, and escapes the pretty message', () => {
    const entry = { time: '2026-05-01T10:00:00.000Z', level: 40, msg: 'a\x1b[2Jb\nc', value: '\x1b[2J', word: 'plain', target: TARGET };
    expect(formatLine(entry, 'logfmt')).toBe(String.raw`time=2026-05-01T10:00:00.000Z level=warn msg="a\u001b[2Jb\nc" value="\u001b[2J" word=plain target=https://127.0.0.1:1/`);
    expect(formatLine(entry, 'pretty')).toBe(String.raw`2026-05-01T10:00:00.000Z WARN  a\u001b[2Jb\nc value="\u001b[2J" word=plain target=https://127.0.0.1:1/`);
  });
});

/** Splits a CSV-style list value back into its items (quoted items, inner quotes doubled). */
function splitList(value: string): string[] {
  return [...value.matchAll(/(?:^|,)(?:"((?:[^"]|"")*)"|([^,]*))/g)].map((m) => (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!));
}

/** The value of `key=` in a logfmt line: a bare word, or a JSON string read back. */
function logfmtValue(line: string, key: string): string | undefined {
  const m = new RegExp(`(?:^| )${key.replace(/\./g, '\\.')}=("(?:[^"\\\\]|\\\\.)*"|\\S*)`).exec(line);
  if (!m) return undefined;
  return m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!;
}

describe('structured fields (issue 14)', () => {
  it('json: the level is its name, first in the line', () => {
    const { logger, lines } = capture('json');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines().map((l) => (JSON.parse(l) as { level: unknown }).level)).toEqual(['debug', 'info', 'warn', 'error']);
    expect(lines()[1]).toMatch(/^\{"level":"info","time":"/);
  });

  it('logfmt and pretty: the level name from a string level as from a number', () => {
    const entry = { time: '2026-05-01T10:00:00.000Z', msg: 'm' };
    expect(formatLine({ ...entry, level: 'warn' }, 'logfmt')).toBe('time=2026-05-01T10:00:00.000Z level=warn msg=m');
    expect(formatLine({ ...entry, level: 40 }, 'logfmt')).toBe('time=2026-05-01T10:00:00.000Z level=warn msg=m');
    expect(formatLine({ ...entry, level: 'error' }, 'pretty')).toBe('2026-05-01T10:00:00.000Z ERROR m');
  });

  it.each(['logfmt', 'pretty'] as const)('%s: a list is one comma-separated value that splits back into its items', (format) => {
    const { logger, lines } = capture(format);
    const skipped = ['ai_gateway (endpoints.ai_gateway is not set, see docs)', 'say "hi"', 'plain'];
    logger.info({ instance: 'a', probes: ['customers_portal', 'cloud_connector'], skipped, none: [], numbers: [1, 2.5] }, 'probes scheduled');
    const line = lines()[0]!;
    expect(line).toContain(' probes=customers_portal,cloud_connector ');
    expect(line).toContain(' none="" ');
    expect(line).toContain(' numbers=1,2.5');
    expect(line).toContain(String.raw`skipped="\"ai_gateway (endpoints.ai_gateway is not set, see docs)\",\"say \"\"hi\"\"\",plain"`);
    expect(splitList(logfmtValue(line, 'skipped')!)).toEqual(skipped);
    expect(line).not.toContain('[');
  });

  it.each(['logfmt', 'pretty'] as const)('%s: an Error is err="message" err_type (+ err_code), under any key, with no stack or JSON', (format) => {
    const { logger, lines } = capture(format);
    const err = Object.assign(new TypeError('fetch failed: connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    logger.error({ err, cause: new RangeError('inner') }, 'rendering /metrics failed');
    logger.error(new Error('thrown as the first argument'), 'then logged');
    const [first, second] = lines();
    expect(first).toContain(' err="fetch failed: connect ECONNREFUSED 127.0.0.1:1" err_type=TypeError err_code=ECONNREFUSED');
    expect(first).toContain(' cause=inner cause_type=RangeError');
    expect(second).toContain(' err="thrown as the first argument" err_type=Error');
    for (const line of [first!, second!]) {
      expect(line).not.toMatch(/[{}]|\[object|stack|at /);
    }
  });

  it('json: an Error under a key other than err is serialized too, not written as {}', () => {
    const { logger, lines } = capture('json');
    logger.warn({ cause: new RangeError('inner'), count: 2 }, 'x');
    const record = JSON.parse(lines()[0]!) as { cause: { type: string; message: string; stack: string }; count: number };
    expect(record.cause).toMatchObject({ type: 'RangeError', message: 'inner' });
    expect(record.cause.stack).toContain('RangeError: inner');
    expect(record.count).toBe(2);
  });

  it('logfmt: an object becomes dotted keys, down to three levels, then one JSON value', () => {
    const { logger, lines } = capture('logfmt');
    logger.debug({ phases: { dns: 0.001, connect: 0.02 }, deep: { a: { b: { c: { d: 1 } } } }, empty: {} }, 'probe run');
    const line = lines()[0]!;
    expect(line).toContain(' phases.dns=0.001 phases.connect=0.02 ');
    expect(logfmtValue(line, 'deep.a.b.c')).toBe('{"d":1}');
    expect(logfmtValue(line, 'empty')).toBe('{}');
  });

  it.each(FORMATS)('%s: redaction still applies to nested header and token fields', (format) => {
    const { logger, raw } = capture(format);
    logger.warn({ headers: { authorization: 'Bearer glpat-secret1', 'private-token': 'glpat-secret2' }, request: { token: 'glpat-secret3' } }, 'x');
    expect(raw()).not.toMatch(/glpat-secret/);
    expect(raw()).toContain('<redacted>');
  });
});
