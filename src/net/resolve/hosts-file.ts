import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * The small system files the resolver reads itself (/etc/hosts, /etc/resolv.conf): read
 * asynchronously, never more than `maxBytes`, kept in memory, and read again only when a stat
 * (at most every `checkIntervalMs`) shows the file changed. glibc reads /etc/hosts on every call;
 * this reads it once per change.
 *
 * A stat or read uses a libuv pool thread. When the pool is busy, a lookup does not wait for the
 * refresh longer than `staleWaitMs` if it has an earlier copy: it answers from that (it would have
 * been the answer a moment earlier anyway). Only the very first read is waited for, and then only
 * until the lookup's own deadline.
 */

export interface WatchedFileOptions {
  readonly maxBytes: number;
  /** How often a lookup may stat the file; 0 stats on every lookup. */
  readonly checkIntervalMs: number;
  /** How long a lookup waits for a refresh in progress before it uses the copy it has. */
  readonly staleWaitMs: number;
}

/** Raised by `get` when the caller's signal aborts first. */
export class WaitAborted extends Error {
  override readonly name = 'WaitAborted';
}

export class WatchedFile<T> {
  #value: T | undefined;
  #stamp: string | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #refresh: Promise<void> | undefined;

  constructor(
    readonly path: string,
    private readonly parse: (text: string) => T,
    private readonly options: WatchedFileOptions,
  ) {}

  /** The parsed file; an absent or unreadable file parses as empty. */
  async get(signal: AbortSignal): Promise<T> {
    if (!this.#refresh && performance.now() - this.#checkedAt >= this.options.checkIntervalMs) {
      this.#refresh = this.#reload().finally(() => {
        this.#refresh = undefined;
        this.#checkedAt = performance.now();
      });
    }
    if (this.#refresh) {
      await waitFor(this.#refresh, signal, this.#value === undefined ? undefined : this.options.staleWaitMs);
    }
    // #reload always leaves a value; a wait cut short by staleWaitMs only happens when one exists.
    return this.#value as T;
  }

  async #reload(): Promise<void> {
    try {
      const info = await stat(this.path);
      const stamp = `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
      if (stamp === this.#stamp && this.#value !== undefined) return;
      // A FIFO or device here would hold a pool thread for good (or read without end).
      const text = info.isFile() ? await readBounded(this.path, this.options.maxBytes) : '';
      this.#value = this.parse(text);
      this.#stamp = stamp;
    } catch {
      // Absent (ENOENT) or unreadable: as glibc does, as if empty; the next check tries again.
      this.#value = this.parse('');
      this.#stamp = undefined;
    }
  }
}

/**
 * Up to `maxBytes` of the file, cut at the last complete line when it is larger. Opened
 * non-blocking, so a file swapped for a FIFO between stat and open cannot hold the thread.
 */
async function readBounded(path: string, maxBytes: number): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) return '';
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length <= maxBytes) return buffer.toString('utf8', 0, length);
    const lastNewline = buffer.lastIndexOf(0x0a, maxBytes - 1);
    return buffer.toString('utf8', 0, lastNewline < 0 ? 0 : lastNewline);
  } finally {
    await handle.close();
  }
}

/** Waits for `work` (which never rejects), at most `atMostMs` when given, and no longer than `signal`. */
function waitFor(work: Promise<void>, signal: AbortSignal, atMostMs: number | undefined): Promise<void> {
  if (signal.aborted) return Promise.reject(new WaitAborted('aborted'));
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done();
      reject(new WaitAborted('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (atMostMs !== undefined) {
      timer = setTimeout(() => {
        done();
        resolve();
      }, atMostMs);
    }
    void work.then(() => {
      done();
      resolve();
    });
  });
}

/** Host name → addresses, in file order (every line that names it, as glibc's `multi on`). */
export type HostsTable = ReadonlyMap<string, readonly string[]>;

/** /etc/hosts: `address name [aliases...]`, `#` comments; names are case-insensitive. */
export function parseHosts(text: string): HostsTable {
  const table = new Map<string, string[]>();
  for (const rawLine of text.split('\n')) {
    const hash = rawLine.indexOf('#');
    const fields = (hash < 0 ? rawLine : rawLine.slice(0, hash)).trim().split(/\s+/);
    const [address, ...names] = fields;
    if (!address || names.length === 0 || isIP(address) === 0) continue;
    for (const raw of names) {
      const name = normaliseHostName(raw);
      if (!name) continue;
      const addresses = table.get(name);
      if (!addresses) table.set(name, [address]);
      else if (!addresses.includes(address)) addresses.push(address);
    }
  }
  return table;
}

/** Lower case, without the trailing dot; undefined for something that cannot be a host name. */
export function normaliseHostName(name: string): string | undefined {
  const bare = (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
  if (bare === '' || bare.length > 253) return undefined;
  for (const label of bare.split('.')) if (label === '' || label.length > 63) return undefined;
  return bare;
}
