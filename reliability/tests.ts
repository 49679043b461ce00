import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { clearFigures, readAllFigures, type Figures } from './lib/figures.js';
import { REPO_DIR } from './lib/paths.js';

/**
 * Runs test/reliability (fault matrix, fuzzers, secrets, endpoint safety) with vitest, exactly as
 * the test command does, and collects the figures each file wrote. Vitest's own output goes to
 * test-output/reliability/vitest.log; its summary lines are kept for the report.
 */
export async function runReliabilityTests(): Promise<{ ok: boolean; summary: string[]; figures: Figures[]; log: string }> {
  clearFigures(REPO_DIR);
  const dir = join(REPO_DIR, 'test-output', 'reliability');
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'vitest.log');
  const out = createWriteStream(log);
  let text = '';
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('npx', ['vitest', 'run', 'test/reliability'], { cwd: REPO_DIR, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk: Buffer) => {
        out.write(chunk);
        text += chunk.toString('utf8');
      });
    }
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  out.end();
  const summary = text.split('\n').filter((l) => /^\s*(Test Files|Tests|Duration)\s/.test(l) || /^\s*(FAIL|×)\s/.test(l)).map((l) => l.trim());
  return { ok: code === 0, summary, figures: readAllFigures(REPO_DIR), log };
}
