import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ProbeError } from '../errors.js';
import { describeError, raceAbort } from './abort.js';
import { normaliseHostName, parseHosts, WaitAborted, WatchedFile, type HostsTable } from './hosts-file.js';

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
 * Every step is bounded by the run's signal and by `lookupTimeoutMs`; when either ends the lookup,
 * its DNS queries are cancelled and the failure is reason `dns`.
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
  maxQueued: 32,
};

/** /etc/hosts up to 8 MiB (ad-blocking lists run to a few MiB); the rest is ignored. */
const MAX_HOSTS_BYTES = 8 * 1024 * 1024;
const MAX_RESOLV_CONF_BYTES = 64 * 1024;

/**
 * getaddrinfo calls in flight for the whole process: one, or a quarter of the pool when
 * UV_THREADPOOL_SIZE makes it larger, so a hung NSS module can never take the pool.
 */
export const SYSTEM_LOOKUPS_IN_FLIGHT = Math.max(1, Math.floor((Number(process.env.UV_THREADPOOL_SIZE) || 4) / 4));

/** c-ares codes that mean "the DNS answered: no such name", or "no DNS server can be asked". */
const FALLBACK_CODES = new Set(['ENOTFOUND', 'ENODATA', 'ECONNREFUSED', 'EREFUSED', 'ENOTIMP']);
/** Codes that only say "nothing for this candidate": the search goes on to the next one. */
const ABSENT_CODES = new Set(['ENOTFOUND', 'ENODATA']);

interface Fallback {
  readonly lookup: (name: string) => Promise<readonly string[]>;
  readonly gate: Gate;
}

export class NameResolver {
  readonly #options: Required<Omit<NameResolverOptions, 'servers' | 'fallback'>>;
  readonly #servers: readonly string[] | undefined;
  readonly #hosts: WatchedFile<HostsTable>;
  readonly #resolvConf: WatchedFile<ResolvConf>;
  readonly #fallback: Fallback | undefined;
  #dnsQueries = 0;
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
    this.#servers = options.servers;
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
      dnsQueries: this.#dnsQueries,
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
      const dns = await this.#queryDns(name, literal.endsWith('.'), conf, budget);
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

  /** DNS over the search list; `why` says what failed when there are no addresses. */
  async #queryDns(name: string, absolute: boolean, conf: ResolvConf, budget: Budget): Promise<{ addresses: string[]; why?: undefined } | { addresses?: undefined; why: string }> {
    const resolver = new Resolver({ timeout: this.#options.queryTimeoutMs, tries: this.#options.tries });
    if (this.#servers) resolver.setServers([...this.#servers]);
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
        if (found.length > 0) {
          const ipv4 = found.filter((a) => isIP(a) === 4);
          const ipv6 = found.filter((a) => isIP(a) === 6);
          return { addresses: preferIPv6() ? [...ipv6, ...ipv4] : [...ipv4, ...ipv6] };
        }
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
    this.#dnsQueries++;
    try {
      return family === 4 ? await resolver.resolve4(name) : await resolver.resolve6(name);
    } finally {
      this.#dnsQueries--;
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

// --- getaddrinfo, bounded ----------------------------------------------------------------------

async function systemLookup(name: string): Promise<readonly string[]> {
  const found = await lookup(name, { all: true, verbatim: true });
  return found.map((a) => a.address);
}

let sharedGate: Gate | undefined;

function systemGate(maxQueued: number | undefined): Gate {
  sharedGate ??= new Gate(SYSTEM_LOOKUPS_IN_FLIGHT, maxQueued ?? DEFAULTS.maxQueued);
  return sharedGate;
}

/** A counting semaphore whose waiters leave the queue when their signal aborts. */
class Gate {
  inFlight = 0;
  readonly #waiting: Array<{ grant(): void }> = [];

  constructor(
    readonly max: number,
    readonly maxQueued: number,
  ) {}

  get queued(): number {
    return this.#waiting.length;
  }

  hasRoom(): boolean {
    return this.inFlight < this.max || this.#waiting.length < this.maxQueued;
  }

  acquire(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(new WaitAborted('aborted'));
    if (this.inFlight < this.max) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: (): void => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(new WaitAborted('aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    // The slot passes straight to the next waiter: inFlight stays the same.
    if (next) next.grant();
    else this.inFlight--;
  }
}

// --- deadlines ---------------------------------------------------------------------------------

/** The caller's signal and the lookup's own bound in one signal, released when the lookup ends. */
class Budget {
  readonly #controller = new AbortController();
  readonly #timer: NodeJS.Timeout;
  readonly #started = performance.now();
  #byTimer = false;

  constructor(
    private readonly outer: AbortSignal,
    private readonly timeoutMs: number,
  ) {
    this.#timer = setTimeout(() => {
      this.#byTimer = true;
      this.#controller.abort();
    }, timeoutMs);
    if (outer.aborted) this.#controller.abort();
    else outer.addEventListener('abort', this.#onOuter, { once: true });
  }

  readonly #onOuter = (): void => this.#controller.abort();

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  expiredWhy(): string {
    const after = `${Math.round(performance.now() - this.#started)} ms`;
    return this.#byTimer ? `no answer within the lookup's bound of ${this.timeoutMs} ms` : `deadline reached after ${after}`;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.outer.removeEventListener('abort', this.#onOuter);
  }
}


// --- /etc/resolv.conf ---------------------------------------------------------------------------

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
 * Servers, timeouts and attempts are left to c-ares and to this module's own bounds.
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

// --- helpers ------------------------------------------------------------------------------------

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'EUNKNOWN';
}

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

let ipv6Preference: { readonly value: boolean; readonly at: number } | undefined;

/**
 * getaddrinfo (RFC 6724) lists IPv6 first only where this host has a global IPv6 address; so does
 * this, rechecked every 30 s. Both families are always returned: connectAny tries them in order.
 */
function preferIPv6(): boolean {
  const now = performance.now();
  if (!ipv6Preference || now - ipv6Preference.at > 30_000) {
    const global = Object.values(networkInterfaces()).some((addresses) =>
      (addresses ?? []).some((a) => a.family === 'IPv6' && !a.internal && !/^f[cde]/i.test(a.address)),
    );
    ipv6Preference = { value: global, at: now };
  }
  return ipv6Preference.value;
}
