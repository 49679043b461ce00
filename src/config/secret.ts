import { inspect } from 'node:util';

const REDACTED = '<redacted>';

/**
 * A token. It prints as `<redacted>` however it is turned into text (template string, JSON,
 * util.inspect, pino), so a token can only reach the wire through an explicit `reveal()`.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
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
