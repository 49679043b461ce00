/**
 * A counting semaphore: at most `limit` runs at once across all instances. The queue is bounded
 * by construction: each scheduled probe waits at most once (it never overlaps itself).
 */
export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

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
      const next = this.#waiting.shift();
      // Hand the slot straight to the next waiter, so the count never dips and over-admits.
      if (next) next();
      else this.#active--;
    }
  }
}
