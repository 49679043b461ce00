import { ProbeError } from '../core/errors.js';

/**
 * Races `work` against the run's deadline. On abort, `cleanup` runs (destroy the socket, close
 * the stream) and the race rejects with reason `timeout`, naming what was still going on.
 */
export function untilDeadline<T>(work: Promise<T>, signal: AbortSignal, what: string, cleanup?: () => void): Promise<T> {
  return raceAbort(work, signal, () => {
    cleanup?.();
    return timeoutError(what);
  });
}

/**
 * Waits for `work` until `signal` aborts, then rejects with `onAbort()`'s error; `work` is left to
 * finish (its rejection is handled) and the listener is removed either way.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(onAbort());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}

/**
 * A signal that aborts when `parent` does or `ms` have passed, and lets go of both when released:
 * the timer is cleared and the listener removed. Not AbortSignal.any() with AbortSignal.timeout():
 * on Node 20 each such pair stays on the heap after the run (nodejs/node#55351; the soak's heap
 * trend, docs/reliability.md).
 */
export function shorterOf(parent: AbortSignal, ms: number): { readonly signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onParent = (): void => controller.abort(parent.reason);
  const timer = setTimeout(() => controller.abort(new DOMException('the wait is over', 'TimeoutError')), Math.max(0, Math.floor(ms)));
  timer.unref();
  if (parent.aborted) onParent();
  else parent.addEventListener('abort', onParent, { once: true });
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParent);
    },
  };
}

export function timeoutError(what: string): ProbeError {
  return new ProbeError('timeout', `deadline reached while ${what}`);
}

/** Turns any error into a ProbeError of `reason`, keeping ProbeErrors (timeouts) as they are. */
export function asProbeError(err: unknown, reason: ProbeError['reason'], context: string): ProbeError {
  if (err instanceof ProbeError) return err;
  return new ProbeError(reason, `${context}: ${describeError(err)}`, { cause: err });
}

/** A short, token-free description of a library or system error. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = err.message.split('\n')[0] ?? '';
    if (code && !message.includes(code)) return `${message} (${code})`;
    return message;
  }
  return String(err);
}
