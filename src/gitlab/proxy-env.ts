import { join } from 'node:path';
import { FileReadError, readBoundedFile } from '../core/files.js';
import { ProbeError } from '../core/errors.js';
import type { ProxySettings } from '../net/options.js';

/**
 * Reading and comparing Omnibus env folders (`/opt/gitlab/etc/<service>/env`): one file per
 * variable, the file name is the variable, its content the value (omnibus `env_dir`).
 */

export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'] as const;
export type ProxyVariable = (typeof PROXY_VARIABLES)[number];

// A proxy URL or a NO_PROXY list is short; a bigger file is not what we are looking for.
const MAX_VALUE_BYTES = 8 * 1024;

/** One component's proxy variables, upper and lower case kept apart. */
export type EnvValues = Partial<Record<string, string>>;

/**
 * Reads only the six proxy files (both cases), never the rest of the folder: the folder also
 * holds secrets we have no business reading, and a fixed list bounds the work.
 */
export async function readProxyEnv(dir: string, signal: AbortSignal): Promise<EnvValues> {
  const values: EnvValues = {};
  for (const name of PROXY_VARIABLES.flatMap((v) => [v, v.toLowerCase()])) {
    signal.throwIfAborted();
    const value = await readSmallFile(join(dir, name), signal);
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/**
 * The file's content; undefined when it does not exist (the variable is unset). Read with
 * core/files.ts: the open cannot block (a FIFO or a device would otherwise hold one of libuv's
 * four pool threads for good, and four such runs every file read and DNS lookup of the daemon), and
 * anything but a regular file is skipped as if unset.
 */
async function readSmallFile(path: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    return (await readBoundedFile(path, { maxBytes: MAX_VALUE_BYTES, signal })).text.trim();
  } catch (err) {
    if (!(err instanceof FileReadError)) throw err;
    switch (err.problem) {
      case 'missing':
      case 'not_regular':
        return undefined;
      case 'too_large':
        throw new ProbeError('requirement_not_met', `${path} is larger than ${MAX_VALUE_BYTES} bytes, which is no proxy setting`);
      case 'timeout':
        throw new ProbeError('timeout', err.message, { cause: err });
      default:
        // Unreadable is not "unset": reporting it as unset would invent a difference.
        throw new ProbeError('internal', `cannot read ${path}: ${err.code ?? 'error'} (the exporter's user needs read access)`, { cause: err });
    }
  }
}

/** A variable as a component sees it, normalised for comparison, with a printable form. */
export interface Effective {
  /** Compared across components; may include credentials, never printed. */
  readonly key: string;
  /** For messages: proxy URLs without userinfo. */
  readonly shown: string;
  /** Upper and lower case both set, to different values. */
  readonly conflicting: boolean;
}

/**
 * The value a component uses. Ruby and curl let the lower-case name win, Go the upper-case
 * one; when both are set and differ that is a problem of its own, reported as `conflicting`.
 */
export function effective(values: EnvValues, variable: ProxyVariable): Effective {
  const upper = values[variable];
  const lower = values[variable.toLowerCase()];
  const raw = lower || upper || '';
  const conflicting = !!upper && !!lower && normalise(variable, upper).key !== normalise(variable, lower).key;
  return { ...normalise(variable, raw), conflicting };
}

function normalise(variable: ProxyVariable, raw: string): { key: string; shown: string } {
  if (raw === '') return { key: '', shown: 'unset' };
  if (variable === 'NO_PROXY') {
    const entries = [...new Set(raw.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean))].sort();
    return { key: entries.join(','), shown: entries.join(',') };
  }
  return proxyUrl(raw);
}

/** Proxy URLs compare by scheme, host and port (and credentials, which are never shown). */
export function proxyUrl(raw: string): { key: string; shown: string } {
  try {
    const url = new URL(raw.includes('://') ? raw : `http://${raw}`);
    const shown = `${url.protocol}//${url.host}`;
    const auth = url.username || url.password ? `${url.username}:${url.password}@` : '';
    return { key: `${url.protocol}//${auth}${url.host.toLowerCase()}`, shown };
  } catch {
    // Not a URL: compare as text, show only its length (it may hold credentials).
    return { key: raw, shown: `an unparsable value (${raw.length} characters)` };
  }
}

/** The exporter's own proxy, as comparable values (HTTPS_PROXY is what it uses for https). */
export function exporterProxy(proxy: ProxySettings | undefined): { https: Effective; noProxy: Effective } {
  if (!proxy) return { https: { key: '', shown: 'unset', conflicting: false }, noProxy: { key: '', shown: 'unset', conflicting: false } };
  return {
    https: { ...proxyUrl(proxy.url.href), conflicting: false },
    noProxy: { ...normalise('NO_PROXY', proxy.noProxy.join(',')), conflicting: false },
  };
}
