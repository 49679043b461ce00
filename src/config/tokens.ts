import { FileReadError, MAX_TOKEN_FILE_BYTES, readBoundedFile } from '../core/files.js';
import type { InstanceConfig, TokenFile } from './schema.js';
import { Secret } from './secret.js';

/**
 * Token files (`admin_token_file`, `duo_user_token_file`, `GITLAB_*_TOKEN_FILE`), read like
 * Prometheus's `credentials_file`: once at load, to validate them (a bad one refuses the config),
 * and again at every probe run and capability detection that may use them, so a rotated token is
 * used from the next run on without a reload.
 */

/** How long a token file may take to read at a run (it is a few bytes on a local disk). */
export const TOKEN_READ_TIMEOUT_MS = 2_000;

/** The token in `path`: trimmed, not empty, at most MAX_TOKEN_FILE_BYTES, a regular file. */
export async function readTokenFile(path: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<{ token: string; mode: number; gid: number }> {
  const { text, mode, gid } = await readBoundedFile(path, { maxBytes: MAX_TOKEN_FILE_BYTES, timeoutMs: options.timeoutMs, signal: options.signal });
  const token = text.trim();
  if (token === '') throw new FileReadError('unreadable', path, `${path} is empty`);
  return { token, mode, gid };
}

/**
 * Who besides the exporter's user can read a token file, for the load-time warning; undefined when
 * nobody. A file readable by its group is fine when that group is the exporter's own primary group:
 * that is how a non-root container reads a Kubernetes secret (mode 0440, group the pod's
 * `fsGroup`, deploy/kubernetes/), and it cannot be tightened without making the file unreadable.
 */
export function readableByOthers(file: { mode: number; gid: number }, ownGid: number | undefined = process.getgid?.()): 'every user' | 'its group' | undefined {
  if ((file.mode & 0o004) !== 0) return 'every user';
  if ((file.mode & 0o040) !== 0 && file.gid !== ownGid) return 'its group';
  return undefined;
}

/**
 * The instance as one run sees it: every token that comes from a file is read again now
 * (concurrently, bounded by `signal`). A file that cannot be read leaves a Secret marked
 * `unreadable`, so that only a run that asks for that token (`credential()`) fails, with reason
 * `auth` and a message naming the setting and the file; a run that uses no token, or the other
 * one, is not affected. Without token files the instance is returned as it is.
 */
export async function withCurrentTokens(instance: InstanceConfig, signal?: AbortSignal): Promise<InstanceConfig> {
  if (!instance.adminTokenFile && !instance.duoUserTokenFile && !instance.agentPlatformTokenFile) return instance;
  const [adminToken, duoUserToken, agentPlatformToken] = await Promise.all([
    current(instance.adminToken, instance.adminTokenFile, signal),
    current(instance.duoUserToken, instance.duoUserTokenFile, signal),
    current(instance.agentPlatformToken, instance.agentPlatformTokenFile, signal),
  ]);
  return { ...instance, adminToken, duoUserToken, agentPlatformToken };
}

async function current(loaded: Secret | undefined, file: TokenFile | undefined, signal: AbortSignal | undefined): Promise<Secret | undefined> {
  if (!file) return loaded;
  try {
    return new Secret((await readTokenFile(file.path, { signal, timeoutMs: TOKEN_READ_TIMEOUT_MS })).token);
  } catch (err) {
    const why = err instanceof FileReadError ? err.message : `cannot read ${file.path}: ${err instanceof Error ? err.message : String(err)}`;
    // The value read before stays for scrubbing only; it is never sent.
    return new Secret(loaded?.reveal() ?? '', `${file.setting}: ${why} (the token could not be read for this run)`);
  }
}
