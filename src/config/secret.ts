import { inspect } from 'node:util';
import { REDACTED } from '../core/redact.js';

/**
 * A token. It prints as `<redacted>` however it is turned into text (template string, JSON,
 * util.inspect, pino), so a token can only reach the wire through an explicit `reveal()`.
 */
export class Secret {
  readonly #value: string;

  constructor(
    value: string,
    /**
     * Set when the token's file could not be read for this run (config/tokens.ts): why, naming the
     * setting and the file, never the token. `credential()` then fails the run instead of handing
     * the token out; `reveal()` still gives the last value read, only so that text can be scrubbed
     * of it.
     */
    readonly unreadable?: string,
  ) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
