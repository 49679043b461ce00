/**
 * A counting semaphore: at most `limit` runs at once across all instances. The queue is bounded
 * by construction: each scheduled probe waits at most once (it never overlaps itself).
 */
export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(public limit: number) {}

  /** A reload's new scheduler.max_concurrency: more admits waiters now, fewer lets runs drain. */
  resize(limit: number): void {
    this.limit = limit;
    while (this.#active < this.limit && this.#waiting.length > 0) {
      this.#active++;
      this.#waiting.shift()!();
    }
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next waiter, so the count never dips and over-admits; after
      // a resize to fewer, a slot above the limit is given up instead.
      const next = this.#active <= this.limit ? this.#waiting.shift() : undefined;
      if (next) next();
      else this.#active--;
    }
  }
}
