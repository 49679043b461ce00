import { Resolver } from 'node:dns/promises';
import { ProbeError } from '../../core/errors.js';
import { orderByFamily } from './address-order.js';
import type { Budget } from './budget.js';
import { searchCandidates, type ResolvConf } from './resolv-conf.js';

/** c-ares codes that mean "the DNS answered: no such name", or "no DNS server can be asked". */
const FALLBACK_CODES = new Set(['ENOTFOUND', 'ENODATA', 'ECONNREFUSED', 'EREFUSED', 'ENOTIMP']);
/** Codes that only say "nothing for this candidate": the search goes on to the next one. */
const ABSENT_CODES = new Set(['ENOTFOUND', 'ENODATA']);

/** The addresses found, or why there are none when getaddrinfo may still be asked. */
export type DnsAnswer = { addresses: string[]; why?: undefined } | { addresses?: undefined; why: string };

export interface DnsSearchOptions {
  /** DNS servers; undefined: those of /etc/resolv.conf, as c-ares reads it. */
  readonly servers: readonly string[] | undefined;
  /** c-ares: how long one try waits for an answer, and how many tries. */
  readonly queryTimeoutMs: number;
  readonly tries: number;
}

/**
 * DNS through c-ares: A and AAAA together, over the search list, with one Resolver per lookup so
 * that the budget's end cancels exactly that lookup's queries. Fails with a ProbeError of reason
 * `dns` when getaddrinfo must not be asked (a timeout, SERVFAIL, the budget spent).
 */
export class DnsSearch {
  #inFlight = 0;

  constructor(private readonly options: DnsSearchOptions) {}

  /** c-ares queries not yet answered, failed or cancelled. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** DNS over the search list; `why` says what failed when there are no addresses. */
  async lookup(name: string, absolute: boolean, conf: ResolvConf, budget: Budget): Promise<DnsAnswer> {
    const resolver = new Resolver({ timeout: this.options.queryTimeoutMs, tries: this.options.tries });
    if (this.options.servers) resolver.setServers([...this.options.servers]);
    const servers = resolver.getServers();
    if (servers.length === 0) return { why: 'no DNS server configured' };
    const cancel = (): void => resolver.cancel();
    budget.signal.addEventListener('abort', cancel, { once: true });
    let asked = name;
    try {
      let absent: string | undefined;
      let servfail: { message: string; cause: unknown } | undefined;
      for (const candidate of searchCandidates(name, absolute, conf)) {
        if (budget.signal.aborted) break;
        asked = candidate;
        // Both families at once; a cancel settles both promptly (ECANCELLED).
        const [v4, v6] = await Promise.allSettled([this.#query(resolver, candidate, 4), this.#query(resolver, candidate, 6)]);
        const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
        if (found.length > 0) return { addresses: orderByFamily(found) };
        if (budget.signal.aborted) break;
        const failures = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [{ code: errorCode(r.reason), cause: r.reason as unknown }] : []));
        const stop = failures.find((f) => !ABSENT_CODES.has(f.code) && f.code !== 'ESERVFAIL');
        if (stop) {
          const message = `DNS server ${servers.join(', ')} ${describeCode(stop.code)} for ${candidate} (${stop.code})`;
          // A server that answered "no" or cannot be reached: getaddrinfo may know better (NSS).
          // A timeout: getaddrinfo would ask the same silent servers and hang as long.
          if (FALLBACK_CODES.has(stop.code)) return { why: message };
          throw new ProbeError('dns', `resolving ${name}: ${message}`, { cause: stop.cause });
        }
        // As glibc's search: NXDOMAIN, NODATA and SERVFAIL go on to the next candidate.
        const failed = failures.find((f) => f.code === 'ESERVFAIL');
        if (failed) servfail ??= { message: `DNS server ${servers.join(', ')} ${describeCode(failed.code)} for ${candidate} (${failed.code})`, cause: failed.cause };
        else absent ??= `DNS has no address for it (${failures.some((f) => f.code === 'ENOTFOUND') ? 'ENOTFOUND' : 'ENODATA'})`;
      }
      if (budget.signal.aborted) throw new ProbeError('dns', `resolving ${name}: ${budget.expiredWhy()}: no answer from DNS server ${servers.join(', ')} for ${asked}`);
      // SERVFAIL is what a caching resolver says when the zone's own servers do not answer:
      // getaddrinfo would wait on them as long, so no fallback.
      if (servfail) throw new ProbeError('dns', `resolving ${name}: ${servfail.message}`, { cause: servfail.cause });
      return { why: absent ?? 'DNS has no address for it' };
    } finally {
      budget.signal.removeEventListener('abort', cancel);
      // Nothing is outstanding here (every query settled); cancel() makes sure of it.
      resolver.cancel();
    }
  }

  async #query(resolver: Resolver, name: string, family: 4 | 6): Promise<string[]> {
    this.#inFlight++;
    try {
      return family === 4 ? await resolver.resolve4(name) : await resolver.resolve6(name);
    } finally {
      this.#inFlight--;
    }
  }
}

/** The c-ares code of a failed query (`ENOTFOUND`, `ETIMEOUT`...). */
function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
}

/** What the DNS server did, in words, for the failure message. */
function describeCode(code: string): string {
  switch (code) {
    case 'ETIMEOUT':
      return 'did not answer';
    case 'ESERVFAIL':
      return 'answered SERVFAIL';
    case 'ECONNREFUSED':
      return 'refused the connection';
    case 'EREFUSED':
      return 'refused the query';
    default:
      return 'failed';
  }
}
