import type { BenchPki } from './pki.js';

/** What every section gets from the runner. */
export interface BenchContext {
  /** `--quick`: fewer samples and shorter windows, for a smoke run of a few minutes. */
  readonly quick: boolean;
  readonly pki: BenchPki;
  /** Progress lines on stderr, so stdout carries only the tables. */
  log(message: string): void;
}

