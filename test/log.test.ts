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
