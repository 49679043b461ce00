/**
 * Issue #12's figures: each hardening measurement (basic-auth flood, hanging DNS, hostile files)
 * lives in reliability/hardening/<name>.ts and returns one of these. The measurement is the figure;
 * `problems` names a goal it missed (e.g. an authenticated scrape over 1 s during a flood), which
 * makes `npm run reliability` exit 1. Tests assert behaviour, never these timings.
 */
export interface HardeningFigures {
  /** One line, e.g. "basic-auth flood". */
  readonly title: string;
  /** The figures, one per line, ready to print. */
  readonly lines: readonly string[];
  /** Goals missed; empty when all were met. */
  readonly problems: readonly string[];
}
