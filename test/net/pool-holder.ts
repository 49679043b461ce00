import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Holds every thread of libuv's pool the way hung getaddrinfo calls do: each thread blocks in
 * open() on a FIFO that has no writer, and nothing can cancel it. `release` opens the write end
 * (from the main thread, non-blocking, so it needs no pool thread), which lets every reader go.
 */
export interface PoolHolder {
  readonly threads: number;
  release(): Promise<void>;
}

export function poolSize(): number {
  return Number(process.env.UV_THREADPOOL_SIZE) || 4;
}

export function holdThreadPool(threads = poolSize()): PoolHolder {
  const dir = mkdtempSync(join(tmpdir(), 'pool-holder-'));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  let done = 0;
  const readers = Array.from({ length: threads }, () =>
    readFile(fifo).then(
      () => void done++,
      () => void done++,
    ),
  );
  let released: Promise<void> | undefined;
  return {
    threads,
    release: () =>
      (released ??= (async () => {
        // A reader that had not reached open() yet when the writer last closed would block again:
        // keep opening the write end until every reader is through.
        while (done < threads) {
          try {
            closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
          } catch {
            // ENXIO: no reader blocked right now; they are on their way.
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await Promise.all(readers);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
