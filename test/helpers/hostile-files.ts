import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/**
 * Hostile files for the file-reading tests (issue #12): FIFOs, and a way to tell whether a load
 * let the event loop turn. Shared by test/core/files.test.ts (src/core/files.ts reads them) and
 * test/config/tokens.test.ts (a FIFO as a token file).
 */

/**
 * A FIFO with no reader or writer, in its own temporary directory. A writer process opens it a few
 * seconds later: a build that blocks on the FIFO (readFileSync) is then freed, and fails the
 * test's assertions, instead of hanging the whole run. A fixed build never waits for it; the
 * writer is killed when the test ends.
 */
export function fifo(name = 'fifo'): string {
  const dir = mkdtempSync(join(tmpdir(), 'gde-fifo-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return fifoAt(join(dir, name));
}

/** The same FIFO (and safety writer) at `path`, which must not exist. */
export function fifoAt(path: string): string {
  execFileSync('mkfifo', ['-m', '600', path]);
  const writer = spawn('sh', ['-c', 'sleep 3; printf "written-by-the-safety-writer" > "$1"', 'sh', path], { stdio: 'ignore', detached: true });
  onTestFinished(() => {
    try {
      // Its own process group: the `sleep` goes too.
      if (writer.pid !== undefined && writer.exitCode === null) process.kill(-writer.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  return path;
}

export interface Settled<T> {
  readonly value?: T;
  readonly error?: unknown;
  /** A setImmediate queued just before `load` was called ran before `load` settled. */
  readonly loopTurned: boolean;
}

/**
 * Calls `load` and says whether the event loop turned while it ran: a setImmediate queued just
 * before runs before the result is seen only if `load` gave the loop back. A load that blocks
 * (or reads synchronously) settles first, whatever the clock says: no timing involved.
 */
export async function settle<T>(load: () => Promise<T> | T): Promise<Settled<T>> {
  let turned = false;
  setImmediate(() => {
    turned = true;
  });
  let loopTurned = false;
  const seen = (): void => {
    loopTurned = turned;
  };
  let result: { value?: T; error?: unknown };
  try {
    const value = await Promise.resolve(load()).finally(seen);
    result = { value };
  } catch (error) {
    seen();
    result = { error };
  }
  return { ...result, loopTurned };
}

/** The issues of the ConfigError `err`, or a failure saying what came instead. */
export function issuesOf(settled: Settled<unknown>): readonly string[] {
  const err = settled.error as { name?: string; issues?: readonly string[] } | undefined;
  if (err === undefined) throw new Error('the load succeeded, but it should have been refused');
  if (err.name !== 'ConfigError' || !err.issues) throw err as Error;
  return err.issues;
}
