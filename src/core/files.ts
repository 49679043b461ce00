import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

/**
 * The one way the exporter reads a file it is pointed at (config, token, CA bundle, certificate,
 * key, web config, Cloudflare ranges, Omnibus env files): asynchronously, only a regular file
 * (a symbolic link to one is fine), at most a size cap, within a deadline.
 *
 * Why (issue #12): `readFileSync` on a FIFO with no writer blocked the whole process for good (a
 * reload froze /metrics and the probes), and on `/dev/zero` it read until the heap gave out
 * (2.5 GB). Here the file is opened with O_NONBLOCK, so opening a FIFO returns at once instead of
 * waiting for a writer inside one of libuv's four pool threads; fstat on the open descriptor (not
 * on the name, which could be swapped in between) then refuses anything but a regular file, and
 * one larger than the cap is refused before a byte is read. A regular file reads the same with or
 * without O_NONBLOCK.
 */

const KIB = 1024;
const MIB = 1024 * KIB;

/** A token file: a GitLab token is about 50 bytes; 16 KiB leaves room for any token format. */
export const MAX_TOKEN_FILE_BYTES = 16 * KIB;
/** A PEM file: CA bundle (a full system bundle is about 220 KiB), certificate chain or key. */
export const MAX_PEM_FILE_BYTES = 1 * MIB;
/** The YAML config file and the web config file. */
export const MAX_CONFIG_FILE_BYTES = 1 * MIB;
/** cloudflare_ranges_file (Cloudflare publishes about 25 ranges; the bundled copy is 1 KiB). */
export const MAX_RANGES_FILE_BYTES = 1 * MIB;
/** How long one read may take before it is given up (a hung network file system). */
export const FILE_READ_TIMEOUT_MS = 5_000;

/** Why a file was not read: `missing` (ENOENT), `unreadable` (another error), `not_regular`, `too_large`, `timeout`. */
export type FileProblem = 'missing' | 'unreadable' | 'not_regular' | 'too_large' | 'timeout';

/**
 * A file that was not read. The message names the file and says why, never its content:
 * `/x is not a regular file (a FIFO)`, `/x is larger than 1 MiB`, `cannot read /x: ENOENT`.
 * Callers put the config key in front (`instances[0].admin_token_file: ...`).
 */
export class FileReadError extends Error {
  override readonly name = 'FileReadError';

  constructor(
    readonly problem: FileProblem,
    readonly path: string,
    message: string,
    /** The errno code (ENOENT, EACCES...) where there was one. */
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface FileContent {
  /** The content, decoded as UTF-8. */
  readonly text: string;
  /** st_mode and st_gid of the file that was read (for the token file warning). */
  readonly mode: number;
  readonly gid: number;
}

export interface ReadOptions {
  /** The size cap; a larger file is refused without being read. */
  readonly maxBytes: number;
  /** Default FILE_READ_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Gives up early (a probe run's deadline). */
  readonly signal?: AbortSignal;
}

// O_NOCTTY: a terminal device must never become the process's controlling terminal.
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0) | (fsConstants.O_NOCTTY ?? 0);
const CHUNK_BYTES = 64 * KIB;

/** `16 KiB`, `1 MiB`, or `N bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes >= KIB && bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} bytes`;
}

/** Reads `path` under the rules above; rejects with a FileReadError. */
export async function readBoundedFile(path: string | URL, options: ReadOptions): Promise<FileContent> {
  const shown = displayPath(path);
  const { signal } = options;
  if (signal?.aborted) throw timedOut(shown);
  const work = readNow(path, shown, options.maxBytes);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timedOut(shown)), options.timeoutMs ?? FILE_READ_TIMEOUT_MS);
    onAbort = () => reject(timedOut(shown));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  // If the deadline wins, `work` still ends (and closes its descriptor) when the system call returns.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

async function readNow(path: string | URL, shown: string, maxBytes: number): Promise<FileContent> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw await openFailed(path, shown, err);
  }
  try {
    const stats = await handle.stat();
    check(stats, shown, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    // Up to one byte past the cap, so a file that grew after fstat is still caught.
    while (total <= maxBytes) {
      const buffer = Buffer.alloc(chunkSize(stats.size, total, maxBytes));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, total);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > maxBytes) throw tooLarge(shown, maxBytes);
    return { text: Buffer.concat(chunks, total).toString('utf8'), mode: stats.mode, gid: stats.gid };
  } catch (err) {
    throw asFileError(err, shown);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * The same rules, synchronously, for the few callers that cannot wait (the Cloudflare table, read
 * again when a plan is built, after the config loader has checked it asynchronously). Opening
 * cannot block (O_NONBLOCK) and at most `maxBytes` are read, so it stays short; no deadline.
 */
export function readBoundedFileSync(path: string | URL, maxBytes: number): FileContent {
  const shown = displayPath(path);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    throw openFailedSync(path, shown, err);
  }
  try {
    const stats = fstatSync(fd);
    check(stats, shown, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    while (total <= maxBytes) {
      const buffer = Buffer.alloc(chunkSize(stats.size, total, maxBytes));
      const bytesRead = readSync(fd, buffer, 0, buffer.length, total);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > maxBytes) throw tooLarge(shown, maxBytes);
    return { text: Buffer.concat(chunks, total).toString('utf8'), mode: stats.mode, gid: stats.gid };
  } catch (err) {
    throw asFileError(err, shown);
  } finally {
    closeSync(fd);
  }
}

/** What to ask for next: the rest of the file as fstat saw it plus one byte (to see EOF), or a chunk. */
function chunkSize(size: number, total: number, maxBytes: number): number {
  const wanted = total < size ? size - total + 1 : CHUNK_BYTES;
  return Math.min(wanted, CHUNK_BYTES, maxBytes + 1 - total);
}

function check(stats: Stats, shown: string, maxBytes: number): void {
  if (!stats.isFile()) throw new FileReadError('not_regular', shown, `${shown} is not a regular file (${kindOf(stats)})`);
  if (stats.size > maxBytes) throw tooLarge(shown, maxBytes);
}

function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSocket()) return 'a socket';
  return 'not a file';
}

function tooLarge(shown: string, maxBytes: number): FileReadError {
  return new FileReadError('too_large', shown, `${shown} is larger than ${formatBytes(maxBytes)}`);
}

function timedOut(shown: string): FileReadError {
  return new FileReadError('timeout', shown, `reading ${shown} did not finish in time`);
}

/** open(2) refuses a socket with ENXIO: say what it is, as for the other non-files. */
async function openFailed(path: string | URL, shown: string, err: unknown): Promise<FileReadError> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENXIO' || code === 'EOPNOTSUPP') {
    const stats = await stat(path).catch(() => undefined);
    if (stats && !stats.isFile()) return new FileReadError('not_regular', shown, `${shown} is not a regular file (${kindOf(stats)})`, code);
  }
  return errnoError(shown, err);
}

function openFailedSync(path: string | URL, shown: string, err: unknown): FileReadError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENXIO' || code === 'EOPNOTSUPP') {
    try {
      const stats = statSync(path);
      if (!stats.isFile()) return new FileReadError('not_regular', shown, `${shown} is not a regular file (${kindOf(stats)})`, code);
    } catch {
      // fall through to the errno
    }
  }
  return errnoError(shown, err);
}

function errnoError(shown: string, err: unknown): FileReadError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new FileReadError(code === 'ENOENT' ? 'missing' : 'unreadable', shown, `cannot read ${shown}: ${code}`, code);
}

function asFileError(err: unknown, shown: string): FileReadError {
  return err instanceof FileReadError ? err : errnoError(shown, err);
}

function displayPath(path: string | URL): string {
  return path instanceof URL ? (path.protocol === 'file:' ? decodeURIComponent(path.pathname) : path.href) : path;
}
