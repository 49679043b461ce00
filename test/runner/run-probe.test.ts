import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ProbeError } from '../../src/core/errors.js';
import type { FactName } from '../../src/core/facts.js';
import { runProbe } from '../../src/runner/run-probe.js';
import { fakeProbe, plannedFake, silentLogger } from '../helpers/fake-probe.js';

/** Runs a fake probe that declares `facts` (the double declares none of its own). */
function run(body: Parameters<typeof fakeProbe>[0], timeoutMs = 200, facts: readonly FactName[] = ['gitlab_duo_http_status_code'], logger = silentLogger) {
  const planned = plannedFake({ ...fakeProbe(body), facts }, { kind: 'every', ms: 60_000 }, timeoutMs);
  return runProbe({ probe: planned.probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger });
}

describe('runProbe', () => {
  it('a probe that ignores its signal still ends at the deadline, as a timeout', async () => {
    const result = await run(() => new Promise<void>(() => undefined), 150);
    expect(result).toMatchObject({ success: false, reason: 'timeout', timeoutSeconds: 0.15 });
    expect(result.durationSeconds).toBeGreaterThanOrEqual(0.14);
  });

  it('keeps the reason of a ProbeError and its phases recorded before the throw', async () => {
    const result = await run(async (ctx) => {
      await ctx.record.phase('connect', async () => undefined);
      ctx.record.fact('gitlab_duo_http_status_code', 503);
      throw new ProbeError('http_status', 'answered 503');
    });
    expect(result).toMatchObject({ success: false, reason: 'http_status', message: 'answered 503' });
    expect(result.phases.connect).toBeGreaterThanOrEqual(0);
    expect(result.facts).toEqual([{ name: 'gitlab_duo_http_status_code', value: 503 }]);
  });

  it('an unexpected exception is reason internal, not a crash', async () => {
    const result = await run(async () => {
      throw new TypeError('cannot read properties of undefined');
    });
    expect(result).toMatchObject({ success: false, reason: 'internal' });
    expect(result.message).toContain('cannot read properties of undefined');
  });

  it('an error after the signal aborted counts as a timeout', async () => {
    const result = await run(
      (ctx) =>
        new Promise<void>((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => reject(new Error('socket hang up')));
        }),
      100,
    );
    expect(result.reason).toBe('timeout');
  });

  it('pre-sets declared phases to 0 and records notes on success', async () => {
    const result = await run(async (ctx) => ctx.record.note('all good'));
    expect(result).toMatchObject({ success: true, reason: undefined, message: 'all good', phases: { connect: 0 } });
  });
});

describe('runProbe timing of a hung phase', () => {
  it('a phase cut off by the deadline still shows the time spent in it, and the message names it', async () => {
    const result = await run((ctx) => ctx.record.phase('connect', () => new Promise<void>(() => undefined)), 150);
    expect(result.reason).toBe('timeout');
    expect(result.message).toContain('(in phase connect)');
    expect(result.phases.connect).toBeGreaterThanOrEqual(0.14);
  });
});

describe('runProbe and the reasons a probe declares', () => {
  it('a reason the probe does not declare is reported as internal, with the real one in the message and a warning', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    // A probe that declares only `connect` and fails with `tls`: its one-hot has no `tls` series.
    const probe = { ...fakeProbe(async () => Promise.reject(new ProbeError('tls', 'handshake failed', { retryAfterSeconds: 5 }))), reasons: ['connect'] as const };
    const planned = plannedFake(probe, { kind: 'every', ms: 60_000 }, 1000);
    const result = await runProbe({ probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger });
    expect(result).toMatchObject({ success: false, reason: 'internal', retryAfterSeconds: 5 });
    expect(result.message).toMatch(/^tls, a reason this probe does not declare \(an exporter bug\): handshake failed$/);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 40, probe: 'fake', gitlab: 'test', reason: 'tls', msg: expect.stringMatching(/does not declare/) }),
    ]);
  });

  it('a declared reason, and the implicit timeout and internal, are kept as they are', async () => {
    const probe = { ...fakeProbe(async () => Promise.reject(new ProbeError('connect', 'refused'))), reasons: ['connect'] as const };
    const planned = plannedFake(probe, { kind: 'every', ms: 60_000 }, 1000);
    const result = await runProbe({ probe, instance: planned.instance, settings: planned.settings, net: planned.net, logger: silentLogger });
    expect(result).toMatchObject({ reason: 'connect', message: 'refused' });
    const hung = { ...probe, run: () => new Promise<void>(() => undefined) };
    const timedOut = await runProbe({ probe: hung, instance: planned.instance, settings: { ...planned.settings, timeoutMs: 100 }, net: planned.net, logger: silentLogger });
    expect(timedOut.reason).toBe('timeout');
  });
});

describe('runProbe and the facts a probe declares', () => {
  const warnings = () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
    return { logger, logged: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
  };

  it('a fact the probe does not declare fails a passing run as internal, naming the probe and the fact, and is not kept', async () => {
    const { logger, logged } = warnings();
    const result = await run(
      async (ctx) => {
        ctx.record.fact('gitlab_duo_http_status_code', 200);
        ctx.record.fact('gitlab_duo_grpc_status_code', 0);
        ctx.record.note('all good');
      },
      1000,
      ['gitlab_duo_http_status_code'],
      logger,
    );
    expect(result).toMatchObject({ success: false, reason: 'internal' });
    expect(result.message).toBe('fake recorded gitlab_duo_grpc_status_code, a fact it does not declare (an exporter bug, please report it)');
    expect(result.facts).toEqual([{ name: 'gitlab_duo_http_status_code', value: 200 }]);
    expect(logged()).toEqual([expect.objectContaining({ level: 40, probe: 'fake', gitlab: 'test', facts: ['gitlab_duo_grpc_status_code'], msg: expect.stringMatching(/does not declare/) })]);
  });

  it('wins over the run’s own failure, which stays in the message', async () => {
    const result = await run(
      async (ctx) => {
        ctx.record.fact('gitlab_duo_tls_public_ca', 1);
        ctx.record.fact('gitlab_duo_tls_public_ca', 0);
        ctx.record.fact('gitlab_duo_http_version', 2);
        throw new ProbeError('connect', 'refused', { retryAfterSeconds: 7 });
      },
      1000,
      [],
    );
    expect(result).toMatchObject({ success: false, reason: 'internal', retryAfterSeconds: 7, facts: [] });
    expect(result.message).toBe('fake recorded gitlab_duo_tls_public_ca, gitlab_duo_http_version, facts it does not declare (an exporter bug, please report it); the run itself failed: connect: refused');
  });

  it('declared facts pass as before', async () => {
    const result = await run(async (ctx) => ctx.record.fact('gitlab_duo_http_status_code', 204), 1000, ['gitlab_duo_http_status_code']);
    expect(result).toMatchObject({ success: true, facts: [{ name: 'gitlab_duo_http_status_code', value: 204 }] });
  });
});
