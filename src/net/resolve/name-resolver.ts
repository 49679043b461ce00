import { isIP } from 'node:net';
import { ProbeError } from '../../core/errors.js';
import { describeError, raceAbort } from '../abort.js';
import { Budget } from './budget.js';
import { DnsSearch } from './dns-search.js';
import { normaliseHostName, parseHosts, WaitAborted, WatchedFile, type HostsTable } from './hosts-file.js';
import { parseResolvConf, type ResolvConf } from './resolv-conf.js';
import { DEFAULT_MAX_QUEUED, Gate, systemGate, systemLookup, type Fallback } from './system-lookup.js';

/**
 * Name resolution for every probe (docs/configuration.md, "How names are resolved").
 *
 * `dns.lookup` is getaddrinfo on libuv's thread pool, where libuv lets lookups take at most half
 * of the threads (2 of the default 4) so that file reads go on. A lookup cannot be cancelled: names
 * in a zone whose servers never answer hold those threads until glibc gives up (10 s and more
 * each, queued behind one another), and meanwhile every other lookup of the process waits, for
 * every instance. Here:
 *
 * 1. IP literals are returned as they are (`resolve:` pins are applied before, in connect.ts).
 * 2. /etc/hosts, read and cached by the exporter itself (c-ares's resolve4/6 never read it).
 * 3. `localhost` and `*.localhost` are loopback, names under `.invalid` never exist (RFC 6761).
 * 4. DNS through c-ares (`dns.Resolver`): A and AAAA together, over the search list and `ndots`
 *    of /etc/resolv.conf applied here (c-ares's query does not apply them), one Resolver per
 *    lookup so that the deadline cancels exactly that lookup's queries; c-ares uses no thread.
 * 5. getaddrinfo only for a name DNS says does not exist, or when no DNS server can be asked
 *    (NSS-only names: mDNS, LDAP, nss-myhostname...), and never more than SYSTEM_LOOKUPS_IN_FLIGHT
 *    calls (1 with the default pool) at a time in the whole process; more wait in a short queue
 *    within their own deadline, or fail at once when it is full. Never after a DNS timeout or
 *    SERVFAIL: getaddrinfo would ask the same silent servers and hold a thread for as long.
 *
 * Every step is bounded by the run's signal and by `lookupTimeoutMs` (budget.ts); when either ends
 * the lookup, its DNS queries are cancelled and the failure is reason `dns`. Step 2 is in
 * hosts-file.ts, step 4 in dns-search.ts (with resolv-conf.ts and address-order.ts), step 5 in
 * system-lookup.ts; this file runs them in order.
 */

export interface NameResolverOptions {
  /** DNS servers (`ip`, `ip:port`, `[ipv6]:port`); default those of /etc/resolv.conf, as c-ares reads it. */
  readonly servers?: readonly string[];
  /** Default /etc/hosts. */
  readonly hostsFile?: string;
  /** Where the search list and ndots come from; default /etc/resolv.conf. */
  readonly resolvConf?: string;
  /** c-ares: how long one try waits for an answer (default 2000 ms), and how many tries (default 2). */
  readonly queryTimeoutMs?: number;
  readonly tries?: number;
  /** Bound on a whole lookup, whatever the caller's signal (default 10 s). */
  readonly lookupTimeoutMs?: number;
  /** How often /etc/hosts and /etc/resolv.conf may be stat'ed to see a change (default 1000 ms). */
  readonly fileCheckIntervalMs?: number;
  /** How long a lookup waits for a refresh of those files before it uses the copy it has (default 250 ms). */
  readonly staleWaitMs?: number;
  /** getaddrinfo as the last resort; `false` turns it off. */
  readonly fallback?: FallbackOptions | false;
}

export interface FallbackOptions {
  /**
   * Replaces getaddrinfo (tests). A resolver with its own function gets its own bound; without
   * one, every resolver of the process shares the one bound on getaddrinfo.
   */
  readonly lookup?: (name: string) => Promise<readonly string[]>;
  /** Calls in flight at once; only with `lookup` (getaddrinfo's is fixed, see SYSTEM_LOOKUPS_IN_FLIGHT). */
  readonly maxInFlight?: number;
  /** Lookups waiting for a slot; beyond that they fail at once (default 32). */
  readonly maxQueued?: number;
}

export interface ResolverStats {
  /** c-ares queries of this resolver not yet answered, failed or cancelled. */
  readonly dnsQueries: number;
  /** getaddrinfo calls still holding a pool thread, including those whose lookup gave up waiting. */
  readonly fallbackInFlight: number;
  /** Lookups waiting for a getaddrinfo slot. */
  readonly fallbackQueued: number;
  /** Lookups that went to getaddrinfo since this resolver was made. */
  readonly fallbackLookups: number;
}

const DEFAULTS = {
  hostsFile: '/etc/hosts',
  resolvConf: '/etc/resolv.conf',
  queryTimeoutMs: 2000,
  tries: 2,
  lookupTimeoutMs: 10_000,
  fileCheckIntervalMs: 1000,
  staleWaitMs: 250,
  maxQueued: DEFAULT_MAX_QUEUED,
};

/** /etc/hosts up to 8 MiB (ad-blocking lists run to a few MiB); the rest is ignored. */
const MAX_HOSTS_BYTES = 8 * 1024 * 1024;
const MAX_RESOLV_CONF_BYTES = 64 * 1024;

export class NameResolver {
  readonly #options: Required<Omit<NameResolverOptions, 'servers' | 'fallback'>>;
  readonly #dns: DnsSearch;
  readonly #hosts: WatchedFile<HostsTable>;
  readonly #resolvConf: WatchedFile<ResolvConf>;
  readonly #fallback: Fallback | undefined;
  #fallbackLookups = 0;

  constructor(options: NameResolverOptions = {}) {
    this.#options = {
      hostsFile: options.hostsFile ?? DEFAULTS.hostsFile,
      resolvConf: options.resolvConf ?? DEFAULTS.resolvConf,
      queryTimeoutMs: options.queryTimeoutMs ?? DEFAULTS.queryTimeoutMs,
      tries: options.tries ?? DEFAULTS.tries,
      lookupTimeoutMs: options.lookupTimeoutMs ?? DEFAULTS.lookupTimeoutMs,
      fileCheckIntervalMs: options.fileCheckIntervalMs ?? DEFAULTS.fileCheckIntervalMs,
      staleWaitMs: options.staleWaitMs ?? DEFAULTS.staleWaitMs,
    };
    this.#dns = new DnsSearch({ servers: options.servers, queryTimeoutMs: this.#options.queryTimeoutMs, tries: this.#options.tries });
    const files = { checkIntervalMs: this.#options.fileCheckIntervalMs, staleWaitMs: this.#options.staleWaitMs };
    this.#hosts = new WatchedFile(this.#options.hostsFile, parseHosts, { ...files, maxBytes: MAX_HOSTS_BYTES });
    this.#resolvConf = new WatchedFile(this.#options.resolvConf, parseResolvConf, { ...files, maxBytes: MAX_RESOLV_CONF_BYTES });
    if (options.fallback !== false) {
      const custom = options.fallback?.lookup;
      this.#fallback = custom
        ? { lookup: custom, gate: new Gate(options.fallback?.maxInFlight ?? 1, options.fallback?.maxQueued ?? DEFAULTS.maxQueued) }
        : { lookup: systemLookup, gate: systemGate(options.fallback?.maxQueued) };
    }
  }

  stats(): ResolverStats {
    return {
      dnsQueries: this.#dns.inFlight,
      fallbackInFlight: this.#fallback?.gate.inFlight ?? 0,
      fallbackQueued: this.#fallback?.gate.queued ?? 0,
      fallbackLookups: this.#fallbackLookups,
    };
  }

  /**
   * The addresses of `host` (a name or an IP literal, IPv6 with or without brackets). Fails with
   * a ProbeError of reason `dns`, also when the signal or the lookup's own bound ends it.
   */
  async resolve(host: string, signal: AbortSignal): Promise<string[]> {
    const literal = host.replace(/^\[|\]$/g, '');
    if (isIP(literal)) return [literal];
    const name = normaliseHostName(literal);
    if (!name) throw new ProbeError('dns', `resolving ${literal}: not a valid host name`);
    const budget = new Budget(signal, this.#options.lookupTimeoutMs);
    let step = 'reading the hosts file';
    try {
      const fromHosts = (await this.#hosts.get(budget.signal)).get(name);
      if (fromHosts && fromHosts.length > 0) return [...fromHosts];
      if (name === 'localhost' || name.endsWith('.localhost')) return ['127.0.0.1', '::1'];
      if (name === 'invalid' || name.endsWith('.invalid')) throw new ProbeError('dns', `resolving ${name}: .invalid names never resolve (RFC 6761)`);
      step = 'reading the resolver configuration';
      const conf = await this.#resolvConf.get(budget.signal);
      step = 'waiting for the DNS servers';
      const dns = await this.#dns.lookup(name, literal.endsWith('.'), conf, budget);
      if (dns.addresses) return dns.addresses;
      if (!this.#fallback) throw new ProbeError('dns', `resolving ${name}: ${dns.why}`);
      step = 'waiting for the system resolver (getaddrinfo)';
      return await this.#viaSystem(literal, name, dns.why, budget, this.#fallback);
    } catch (err) {
      if (err instanceof ProbeError) throw err;
      if (err instanceof WaitAborted || budget.signal.aborted) {
        throw new ProbeError('dns', `resolving ${name}: ${budget.expiredWhy()} while ${step}`, { cause: err });
      }
      throw new ProbeError('dns', `resolving ${name}: ${describeError(err)}`, { cause: err });
    } finally {
      budget.dispose();
    }
  }

  async #viaSystem(literal: string, name: string, why: string, budget: Budget, fallback: Fallback): Promise<string[]> {
    if (!fallback.gate.hasRoom()) {
      throw new ProbeError('dns', `resolving ${name}: ${why}, and the system resolver (getaddrinfo) is busy: ${fallback.gate.inFlight} in flight, ${fallback.gate.queued} waiting`);
    }
    await fallback.gate.acquire(budget.signal);
    this.#fallbackLookups++;
    // The slot stays taken until getaddrinfo returns, even if this lookup stops waiting: that is
    // the pool thread it holds.
    const work = fallback.lookup(literal).finally(() => fallback.gate.release());
    try {
      const addresses = await raceAbort(work, budget.signal, () => new WaitAborted('aborted'));
      if (addresses.length === 0) throw new ProbeError('dns', `resolving ${name}: no addresses`);
      return [...addresses];
    } catch (err) {
      if (err instanceof ProbeError || err instanceof WaitAborted) throw err;
      throw new ProbeError('dns', `resolving ${name}: ${why}; system resolver: ${describeError(err)}`, { cause: err });
    }
  }
}

// --- the process-wide resolver ----------------------------------------------------------------

let current: NameResolver | undefined;

/** The resolver openConnection uses. */
export function nameResolver(): NameResolver {
  current ??= new NameResolver();
  return current;
}

/** Replaces the process-wide resolver (tests, measurements); `undefined` restores the default. Returns the previous one. */
export function setNameResolver(resolver: NameResolver | undefined): NameResolver | undefined {
  const previous = current;
  current = resolver;
  return previous;
}
