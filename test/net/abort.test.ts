import { describe, expect, it, vi } from 'vitest';
import { ProbeError } from '../../src/core/errors.js';
import { asProbeError, describeError, shorterOf, timeoutError, untilDeadline } from '../../src/net/abort.js';

/** The deadline race every net/ call goes through. */

describe('untilDeadline', () => {
  it('passes the value through and leaves no abort listener behind', async () => {
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    await expect(untilDeadline(Promise.resolve(42), controller.signal, 'x')).resolves.toBe(42);
    expect(add).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledTimes(1);
  });

  it('passes a rejection through untouched', async () => {
    const boom = new Error('boom');
    await expect(untilDeadline(Promise.reject(boom), new AbortController().signal, 'x')).rejects.toBe(boom);
  });

  it('on abort: runs the cleanup and rejects with reason timeout naming the step', async () => {
    const controller = new AbortController();
    const cleanup = vi.fn();
    const pending = untilDeadline(new Promise(() => undefined), controller.signal, 'waiting for Godot', cleanup);
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).reason).toBe('timeout');
    expect((err as ProbeError).message).toBe('deadline reached while waiting for Godot');
    expect(cleanup).toHaveBeenCalledTimes(1);
  });

  it('an already aborted signal: cleanup at once, no waiting', async () => {
    const cleanup = vi.fn();
    await expect(untilDeadline(new Promise(() => undefined), AbortSignal.abort(), 'late', cleanup)).rejects.toMatchObject({ reason: 'timeout' });
    expect(cleanup).toHaveBeenCalledTimes(1);
  });
});

describe('shorterOf', () => {
  it('aborts after its time, while the parent still runs', async () => {
    const parent = new AbortController();
    const bounded = shorterOf(parent.signal, 20);
    await new Promise((resolve) => bounded.signal.addEventListener('abort', resolve, { once: true }));
    expect((bounded.signal.reason as Error).name).toBe('TimeoutError');
    expect(parent.signal.aborted).toBe(false);
    bounded.release();
  });

  it('aborts with the parent, with its reason', () => {
    const parent = new AbortController();
    const bounded = shorterOf(parent.signal, 60_000);
    parent.abort(new Error('deadline'));
    expect(bounded.signal.aborted).toBe(true);
    expect((bounded.signal.reason as Error).message).toBe('deadline');
    bounded.release();
  });

  it('released: no listener left on the parent and no timer pending (nothing stays on the heap)', async () => {
    vi.useFakeTimers();
    try {
      const parent = new AbortController();
      const add = vi.spyOn(parent.signal, 'addEventListener');
      const remove = vi.spyOn(parent.signal, 'removeEventListener');
      const bounded = shorterOf(parent.signal, 1000);
      expect(vi.getTimerCount()).toBe(1);
      bounded.release();
      expect(vi.getTimerCount()).toBe(0);
      expect(add).toHaveBeenCalledTimes(1);
      expect(remove).toHaveBeenCalledWith('abort', add.mock.calls[0]![1]);
      vi.advanceTimersByTime(2000);
      expect(bounded.signal.aborted).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('error helpers', () => {
  it('asProbeError keeps ProbeErrors and classifies the rest', () => {
    const timeout = timeoutError('x');
    expect(asProbeError(timeout, 'tls', 'ctx')).toBe(timeout);
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const wrapped = asProbeError(err, 'connect', 'connecting to 127.0.0.1:1');
    expect(wrapped.reason).toBe('connect');
    expect(wrapped.message).toBe('connecting to 127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1');
    expect(wrapped.cause).toBe(err);
  });

  it('describeError: first line only, the code when the message lacks it', () => {
    expect(describeError(Object.assign(new Error('certificate has expired\nstack-ish'), { code: 'CERT_HAS_EXPIRED' }))).toBe('certificate has expired (CERT_HAS_EXPIRED)');
    expect(describeError('plain')).toBe('plain');
  });
});
