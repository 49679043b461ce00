import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What each reliability test file found, written as JSON under test-output/reliability/figures/
 * so that `npm run reliability` can print one summary from the very runs that passed or failed.
 * The tests are the source of truth; the script only adds up what they wrote.
 */
export interface Figures {
  /** Which part of issue #6 this file covers, e.g. "fault matrix". */
  readonly part: string;
  readonly seed?: number;
  /** Faults injected (probe × fault cells) and how many ended with the expected reason. */
  readonly faultsTried?: number;
  readonly faultsSurvived?: number;
  /** Hostile inputs fed (configs, API answers, requests) and how many were handled as designed. */
  readonly badInputsTried?: number;
  readonly badInputsHandled?: number;
  /** Sockets, timers or pending requests left behind, summed over the file's checks. */
  readonly leaksFound?: number;
  /** Places scanned for sentinel tokens and how many of them contained one. */
  readonly secretPlacesScanned?: number;
  readonly secretsFound?: number;
  /** Free-form lines for the summary (a table, a breakdown). */
  readonly lines?: readonly string[];
}

export const FIGURES_SUBDIR = join('test-output', 'reliability', 'figures');

export function writeFigures(repoDir: string, name: string, figures: Figures): void {
  const dir = join(repoDir, FIGURES_SUBDIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}

export function readAllFigures(repoDir: string): Figures[] {
  const dir = join(repoDir, FIGURES_SUBDIR);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as Figures);
}

export function clearFigures(repoDir: string): void {
  rmSync(join(repoDir, FIGURES_SUBDIR), { recursive: true, force: true });
}
