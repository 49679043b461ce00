import { hostname } from 'node:os';
import { normaliseHostName } from './hosts-file.js';

/**
 * /etc/resolv.conf's search list and ndots, applied by the resolver itself (c-ares's query does
 * not apply them), and the names a lookup asks for, in glibc's order.
 */

export interface ResolvConf {
  /** Search domains, lower case, at most 6 (glibc's MAXDNSRCH). */
  readonly search: readonly string[];
  /** Names with at least this many dots are tried as they are first (default 1, at most 15). */
  readonly ndots: number;
}

const MAX_SEARCH_DOMAINS = 6;

/**
 * The search list and ndots as glibc reads them: the last `search` or `domain` line wins, without
 * either the host's own domain; `LOCALDOMAIN` and `RES_OPTIONS` in the environment override.
 * Servers, timeouts and attempts are left to c-ares and to the resolver's own bounds.
 */
export function parseResolvConf(text: string, env: NodeJS.ProcessEnv = process.env, host: string = hostname()): ResolvConf {
  let search: string[] | undefined;
  let ndots = 1;
  const applyOptions = (options: readonly string[]): void => {
    for (const option of options) {
      const match = /^ndots:(\d+)$/.exec(option);
      if (match) ndots = Math.min(15, Number(match[1]));
    }
  };
  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/[#;].*$/, '').trim();
    const [keyword, ...values] = line.split(/\s+/);
    if (keyword === 'search' || keyword === 'domain') search = values;
    else if (keyword === 'options') applyOptions(values);
  }
  if (env.LOCALDOMAIN !== undefined) search = env.LOCALDOMAIN.trim().split(/\s+/);
  if (env.RES_OPTIONS !== undefined) applyOptions(env.RES_OPTIONS.trim().split(/\s+/));
  if (search === undefined) {
    const dot = host.indexOf('.');
    search = dot > 0 ? [host.slice(dot + 1)] : [];
  }
  const domains: string[] = [];
  for (const raw of search) {
    const domain = normaliseHostName(raw);
    if (domain && !domains.includes(domain) && domains.length < MAX_SEARCH_DOMAINS) domains.push(domain);
  }
  return { search: domains, ndots };
}

/**
 * The names to ask, in glibc's order: a name ending in a dot only as it is; a name with at least
 * `ndots` dots as it is, then with each search domain; a shorter one with each domain first.
 */
export function searchCandidates(name: string, absolute: boolean, conf: ResolvConf): string[] {
  if (absolute) return [name];
  const dots = name.split('.').length - 1;
  const suffixed = conf.search.map((domain) => `${name}.${domain}`).filter((candidate) => candidate.length <= 253);
  return dots >= conf.ndots ? [name, ...suffixed] : [...suffixed, name];
}
