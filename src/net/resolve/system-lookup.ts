import { lookup } from 'node:dns/promises';
import { WaitAborted } from './hosts-file.js';

/**
 * getaddrinfo (`dns.lookup`), the resolver's last resort, bounded: it runs on libuv's thread pool
 * and cannot be cancelled, so the calls in flight and the lookups waiting for one are capped.
 */

/**
 * getaddrinfo calls in flight for the whole process: one, or a quarter of the pool when
 * UV_THREADPOOL_SIZE makes it larger, so a hung NSS module can never take the pool.
 */
export const SYSTEM_LOOKUPS_IN_FLIGHT = Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 4));

/** Lookups waiting for a slot unless configured otherwise; beyond that they fail at once. */
export const DEFAULT_MAX_QUEUED = 32;

/** A getaddrinfo-like function and the bound on its calls. */
export interface Fallback {
  readonly lookup: (name: string) => Promise<readonly string[]>;
  readonly gate: Gate;
}

export async function systemLookup(name: string): Promise<readonly string[]> {
  const found = await lookup(name, { all: true, verbatim: true });
  return found.map((a) => a.address);
}

let sharedGate: Gate | undefined;

/** The one bound every resolver of the process shares on getaddrinfo (the first caller's `maxQueued` sets it). */
export function systemGate(maxQueued: number | undefined): Gate {
  sharedGate ??= new Gate(SYSTEM_LOOKUPS_IN_FLIGHT, maxQueued ?? DEFAULT_MAX_QUEUED);
  return sharedGate;
}

/** A counting semaphore whose waiters leave the queue when their signal aborts. */
export class Gate {
  inFlight = 0;
  readonly #waiting: Array<{ grant(): void }> = [];

  constructor(
    readonly max: number,
    readonly maxQueued: number,
  ) {}

  get queued(): number {
    return this.#waiting.length;
  }

  hasRoom(): boolean {
    return this.inFlight < this.max || this.#waiting.length < this.maxQueued;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new WaitAborted('aborted'));
    if (this.inFlight < this.max) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(new WaitAborted('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    // The slot passes straight to the next waiter: inFlight stays the same.
    if (next) next.grant();
    else this.inFlight--;
  }
}
