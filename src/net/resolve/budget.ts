import { performance } from 'node:perf_hooks';

/** The caller's signal and the lookup's own bound in one signal, released when the lookup ends. */
export class Budget {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #started = performance.now();
  #byTimer = false;

  constructor(
    private readonly outer: AbortSignal,
    private readonly timeoutMs: number,
  ) {
    this.#timer = setTimeout(() => {
      this.#byTimer = true;
      this.#controller.abort();
    }, timeoutMs);
    if (outer.aborted) this.#controller.abort();
    else outer.addEventListener('abort', this.#onOuter, { once: true });
  }

  readonly #onOuter = (): void => this.#controller.abort();

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  expiredWhy(): string {
    const after = `${Math.round(performance.now() - this.#started)} ms`;
    return this.#byTimer ? `no answer within the lookup's bound of ${this.timeoutMs} ms` : `deadline reached after ${after}`;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.outer.removeEventListener('abort', this.#onOuter);
  }
}
