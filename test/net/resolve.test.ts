import { isIP } from 'node:net';
import type * as DnsPromises from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { openConnection } from '../../src/net/connect.js';
import { parseHosts } from '../../src/net/resolve/hosts-file.js';
import { NameResolver, nameResolver, setNameResolver, type NameResolverOptions } from '../../src/net/resolve/name-resolver.js';
import { parseResolvConf, searchCandidates } from '../../src/net/resolve/resolv-conf.js';
import { SYSTEM_LOOKUPS_IN_FLIGHT } from '../../src/net/resolve/system-lookup.js';
import { PHASES } from '../../src/core/run.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { failure } from '../helpers/failure.js';
import { startHttpServer } from '../helpers/servers.js';
import { startDnsServer, TYPE_A, TYPE_AAAA, type TestDnsServer } from './dns-server.js';
import { holdThreadPool } from './pool-holder.js';

/**
 * Name resolution without dns.lookup's starvation (issue 12, defect 4): a DNS server on loopback
 * that answers one zone and never answers another, /etc/hosts read by the exporter itself, the
 * search list applied, and getaddrinfo only as a bounded last resort.
 *
 * getaddrinfo is replaced for names under `mocked.test` (a name "only NSS knows"), so that the
 * fallback and its bound can be watched; every other name goes to the real one.
 */

const system = vi.hoisted(() => ({
  calls: [] as string[],
  active: 0,
  maxActive: 0,
  held: [] as Array<() => void>,
  answers: new Map<string, string[]>(),
}));

vi.mock('node:dns/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof DnsPromises>();
  const lookup = (async (name: string, options: unknown) => {
    if (!name.endsWith('.mocked.test')) return actual.lookup(name, options as never);
    system.calls.push(name);
    system.active++;
    system.maxActive = Math.max(system.maxActive, system.active);
    try {
      if (name.startsWith('held')) await new Promise<void>((resolve) => system.held.push(resolve));
      const answer = system.answers.get(name);
      if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      return answer.map((address) => ({ address, family: isIP(address) }));
    } finally {
      system.active--;
    }
  }) as typeof actual.lookup;
  return { ...actual, lookup, default: { ...actual, lookup } };
});

let dns: TestDnsServer;
let dir: string;
let emptyHosts: string;
let resolvConf: string;

beforeAll(async () => {
  dns = await startDnsServer({
    zones: {
      'ok.test': {
        'svc.ok.test': { a: ['127.0.0.1'], aaaa: ['::1'] },
        'v4.ok.test': { a: ['127.0.0.1'] },
        'both.ok.test': { a: ['127.0.0.1'], aaaa: ['::1'] },
      },
      // Authoritative and empty: every name is NXDOMAIN, so it goes on to getaddrinfo.
      'mocked.test': {},
    },
    hang: ['hang.test'],
    servfail: ['fail.test'],
  });
  dir = mkdtempSync(join(tmpdir(), 'resolve-test-'));
  emptyHosts = join(dir, 'hosts.empty');
  writeFileSync(emptyHosts, '');
  resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, 'search nowhere.ok.test ok.test\noptions ndots:1\n');
});

afterAll(async () => {
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  setNameResolver(undefined);
  for (const release of system.held.splice(0)) release();
  system.calls.length = 0;
  system.maxActive = 0;
  system.answers.clear();
});

/** A resolver that asks only the test server, reads an empty hosts file and has no fallback unless told. */
function resolverFor(options: NameResolverOptions = {}): NameResolver {
  return new NameResolver({ servers: [dns.address], hostsFile: emptyHosts, resolvConf, fallback: false, ...options });
}

/** Waits (no time limit of its own: the test's timeout is the bound) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const seen = (name: string): number => dns.questions.filter((q) => q.name === name).length;

function ctx(signal: AbortSignal = AbortSignal.timeout(10_000), resolve: Record<string, string> = {}): Parameters<typeof openConnection>[1] & { record: RunRecorder } {
  return {
    net: { proxy: undefined, ca: [], insecureSkipVerify: false, resolve: new Map(Object.entries(resolve)), cloudflare: loadCloudflareRanges() },
    signal,
    record: new RunRecorder(PHASES),
  };
}

describe('DNS through c-ares', () => {
  it('asks A and AAAA together and keeps both', async () => {
    const addresses = await resolverFor().resolve('both.ok.test', AbortSignal.timeout(10_000));
    expect([...addresses].sort()).toEqual(['127.0.0.1', '::1']);
    expect(dns.questions.filter((q) => q.name === 'both.ok.test').map((q) => q.type).sort()).toEqual([TYPE_A, TYPE_AAAA]);
  });

  it('applies the search list and ndots of resolv.conf (c-ares resolve4 does not), and not to a name ending in a dot', async () => {
    const resolver = resolverFor();
    expect(await resolver.resolve('v4', AbortSignal.timeout(10_000))).toEqual(['127.0.0.1']);
    // The first search domain answered NXDOMAIN; the second has the name.
    expect(seen('v4.nowhere.ok.test')).toBeGreaterThan(0);
    expect(seen('v4.ok.test')).toBeGreaterThan(0);
    const err = await failure(resolver.resolve('v4.', AbortSignal.timeout(10_000)));
    expect(err.reason).toBe('dns');
    expect(seen('v4')).toBeGreaterThan(0);
  });

  it('a name in a zone that never answers fails with reason dns at the deadline, and its queries are cancelled', async () => {
    // c-ares would retry every 100 ms for 10 s: only the cancel stops it.
    const resolver = resolverFor({ queryTimeoutMs: 100, tries: 100, lookupTimeoutMs: 60_000 });
    const run = new AbortController();
    const pending = failure(resolver.resolve('x.hang.test', run.signal));
    await until(() => seen('x.hang.test') >= 2);
    run.abort();
    const err = await pending;
    expect(err.reason).toBe('dns');
    expect(err.message).toMatch(/^resolving x\.hang\.test: deadline reached after \d+ ms: no answer from DNS server 127\.0\.0\.1:\d+ for x\.hang\.test$/);
    expect(resolver.stats().dnsQueries).toBe(0);
    // Nothing is retransmitted after the cancel (six retry intervals later).
    const asked = seen('x.hang.test');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(seen('x.hang.test')).toBe(asked);
  });

  it("the lookup's own bound ends it too, whatever the caller's signal", async () => {
    const resolver = resolverFor({ queryTimeoutMs: 60_000, lookupTimeoutMs: 200 });
    const err = await failure(resolver.resolve('bound.hang.test', AbortSignal.timeout(60_000)));
    expect(err.reason).toBe('dns');
    expect(err.message).toContain("no answer within the lookup's bound of 200 ms");
    expect(resolver.stats().dnsQueries).toBe(0);
  });

  it('c-ares giving up on a silent server is a dns failure without any getaddrinfo call', async () => {
    const resolver = resolverFor({ queryTimeoutMs: 50, tries: 1, fallback: { lookup: () => Promise.reject(new Error('must not be called')) } });
    const err = await failure(resolver.resolve('gaveup.hang.test', AbortSignal.timeout(10_000)));
    expect(err.reason).toBe('dns');
    expect(err.message).toContain('did not answer for gaveup.hang.test (ETIMEOUT)');
    expect(resolver.stats().fallbackLookups).toBe(0);
  });

  it('SERVFAIL (a caching resolver whose upstream is silent) is a dns failure, without getaddrinfo', async () => {
    const resolver = resolverFor({ fallback: { lookup: () => Promise.reject(new Error('must not be called')) } });
    const err = await failure(resolver.resolve('svc.fail.test', AbortSignal.timeout(10_000)));
    expect(err.reason).toBe('dns');
    expect(err.message).toContain('answered SERVFAIL for svc.fail.test');
    expect(resolver.stats().fallbackLookups).toBe(0);
  });

  it('while 8 lookups hang, the libuv pool is free: a file read and a healthy-zone lookup both complete', async () => {
    const resolver = resolverFor({ queryTimeoutMs: 60_000, lookupTimeoutMs: 60_000 });
    const run = new AbortController();
    const hanging = Array.from({ length: 8 }, (_, i) => failure(resolver.resolve(`h${i}.hang.test`, run.signal)));
    await until(() => dns.questionsFor('hang.test').filter((q) => /^h\d\./.test(q.name)).length >= 16);
    expect(resolver.stats().dnsQueries).toBe(16);
    expect((await readFile(resolvConf, 'utf8')).length).toBeGreaterThan(0);
    expect(await resolver.resolve('svc.ok.test', AbortSignal.timeout(10_000))).toContain('127.0.0.1');
    run.abort();
    for (const err of await Promise.all(hanging)) expect(err.reason).toBe('dns');
    expect(resolver.stats().dnsQueries).toBe(0);
  });
});

describe('through openConnection', () => {
  it('with every libuv pool thread held (by blocked file opens: hung getaddrinfo calls would hold its DNS share), DNS, /etc/hosts and IP literals still resolve', async () => {
    // The real hosts file, stat'ed on every lookup: its refresh cannot finish while the pool is
    // held, so the copy read before is used.
    const resolver = resolverFor({ hostsFile: '/etc/hosts', fileCheckIntervalMs: 0 });
    setNameResolver(resolver);
    const server = await startHttpServer();
    await resolver.resolve('svc.ok.test', AbortSignal.timeout(10_000));
    const pool = holdThreadPool();
    onTestFinished(() => pool.release());
    let statDone = false;
    const probe = stat('/etc/hosts').then(() => void (statDone = true));
    for (const host of ['svc.ok.test', 'localhost', '127.0.0.1']) {
      const connection = await openConnection({ host, port: server.port }, ctx());
      expect(connection.socket.remoteAddress).toBe('127.0.0.1');
      connection.socket.destroy();
    }
    // The pool really was held the whole time.
    expect(statDone).toBe(false);
    await pool.release();
    await probe;
  });

  it('8 hanging names fail with reason dns at the deadline while another instance connects at once', async () => {
    setNameResolver(resolverFor({ queryTimeoutMs: 60_000 }));
    const server = await startHttpServer();
    const deadline = new AbortController();
    const hanging = Array.from({ length: 8 }, (_, i) => failure(openConnection({ host: `probe${i}.hang.test`, port: 443 }, ctx(deadline.signal))));
    await until(() => dns.questionsFor('hang.test').filter((q) => q.name.startsWith('probe')).length >= 16);
    const healthy = ctx();
    const connection = await openConnection({ host: 'svc.ok.test', port: server.port }, healthy);
    connection.socket.destroy();
    expect(healthy.record.phases.get('dns')).toBeGreaterThan(0);
    deadline.abort();
    for (const err of await Promise.all(hanging)) {
      expect(err.reason).toBe('dns');
      expect(err.message).toContain('deadline reached');
    }
    expect(nameResolver().stats().dnsQueries).toBe(0);
  });

  it('resolve: pins still win, without a question to DNS', async () => {
    setNameResolver(resolverFor());
    const server = await startHttpServer();
    const connection = await openConnection({ host: 'pinned.hang.test', port: server.port }, ctx(undefined, { [`pinned.hang.test:${server.port}`]: '127.0.0.1' }));
    connection.socket.destroy();
    expect(seen('pinned.hang.test')).toBe(0);
  });
});

describe('names DNS is never asked about', () => {
  it('IP literals, with or without brackets', async () => {
    const resolver = resolverFor();
    const before = dns.questions.length;
    expect(await resolver.resolve('127.0.0.1', AbortSignal.timeout(10_000))).toEqual(['127.0.0.1']);
    expect(await resolver.resolve('::1', AbortSignal.timeout(10_000))).toEqual(['::1']);
    expect(await resolver.resolve('[::1]', AbortSignal.timeout(10_000))).toEqual(['::1']);
    expect(dns.questions.length).toBe(before);
  });

  it('localhost from the real /etc/hosts; *.localhost is loopback; .invalid never resolves', async () => {
    const resolver = resolverFor({ hostsFile: '/etc/hosts' });
    const before = dns.questions.length;
    expect(await resolver.resolve('localhost', AbortSignal.timeout(10_000))).toContain('127.0.0.1');
    expect(await resolver.resolve('app.localhost', AbortSignal.timeout(10_000))).toEqual(['127.0.0.1', '::1']);
    const err = await failure(resolver.resolve('gitlab.example.invalid', AbortSignal.timeout(10_000)));
    expect(err.reason).toBe('dns');
    expect(dns.questions.length).toBe(before);
  });
});

describe('/etc/hosts', () => {
  it('parses addresses, aliases, comments, IPv6 and repeated names, case-insensitively', () => {
    const table = parseHosts(
      ['# comment', '127.0.0.1\tlocalhost Loopback.Test  # trailing', '::1 localhost ip6-localhost', 'not-an-ip name.test', '10.0.0.1', '127.0.0.2 loopback.test.', ''].join('\n'),
    );
    expect(table.get('localhost')).toEqual(['127.0.0.1', '::1']);
    expect(table.get('loopback.test')).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(table.get('ip6-localhost')).toEqual(['::1']);
    expect(table.has('name.test')).toBe(false);
  });

  it('wins over DNS, and a change to the file is seen (stat-based refresh)', async () => {
    const hostsFile = join(dir, 'hosts.changing');
    writeFileSync(hostsFile, '127.0.0.2 svc.ok.test\n');
    const resolver = resolverFor({ hostsFile, fileCheckIntervalMs: 0, staleWaitMs: 60_000 });
    const before = seen('svc.ok.test');
    expect(await resolver.resolve('SVC.ok.test', AbortSignal.timeout(10_000))).toEqual(['127.0.0.2']);
    expect(seen('svc.ok.test')).toBe(before);
    writeFileSync(hostsFile, '# changed\n127.0.0.3 svc.ok.test\n');
    expect(await resolver.resolve('svc.ok.test', AbortSignal.timeout(10_000))).toEqual(['127.0.0.3']);
    writeFileSync(hostsFile, '');
    expect(await resolver.resolve('svc.ok.test', AbortSignal.timeout(10_000))).toContain('127.0.0.1');
    expect(seen('svc.ok.test')).toBeGreaterThan(before);
  });

  it('is read only up to 8 MiB', async () => {
    const hostsFile = join(dir, 'hosts.big');
    const line = (i: number): string => `127.0.0.1 h${String(i).padStart(7, '0')}.big.test\n`;
    const lines = Math.ceil((8 * 1024 * 1024) / line(0).length) + 1000;
    writeFileSync(hostsFile, Array.from({ length: lines }, (_, i) => line(i)).join(''));
    const resolver = resolverFor({ hostsFile });
    expect(await resolver.resolve('h0000000.big.test', AbortSignal.timeout(10_000))).toEqual(['127.0.0.1']);
    const err = await failure(resolver.resolve(`h${String(lines - 1).padStart(7, '0')}.big.test`, AbortSignal.timeout(10_000)));
    expect(err.reason).toBe('dns');
  });

  it('a FIFO in its place is not read (it would hold a pool thread for good)', async () => {
    const fifo = join(dir, 'hosts.fifo');
    execFileSync('mkfifo', [fifo]);
    const resolver = resolverFor({ hostsFile: fifo });
    expect(await resolver.resolve('v4.ok.test', AbortSignal.timeout(10_000))).toEqual(['127.0.0.1']);
  });
});

describe('resolv.conf', () => {
  it('search or domain (the last wins), ndots, LOCALDOMAIN and RES_OPTIONS, the host domain by default', () => {
    expect(parseResolvConf('nameserver 10.0.0.1\ndomain a.test\nsearch B.test c.test.\noptions ndots:2 timeout:1\n', {}, 'host')).toEqual({ search: ['b.test', 'c.test'], ndots: 2 });
    expect(parseResolvConf('search a.test\ndomain d.test\n', {}, 'host')).toEqual({ search: ['d.test'], ndots: 1 });
    expect(parseResolvConf('search a.test\n', { LOCALDOMAIN: 'env.test', RES_OPTIONS: 'ndots:3' }, 'host')).toEqual({ search: ['env.test'], ndots: 3 });
    expect(parseResolvConf('', {}, 'node1.corp.test')).toEqual({ search: ['corp.test'], ndots: 1 });
    expect(parseResolvConf('search 1.t 2.t 3.t 4.t 5.t 6.t 7.t\noptions ndots:99', {}, 'h').search).toHaveLength(6);
    expect(parseResolvConf('options ndots:99', {}, 'h').ndots).toBe(15);
  });

  it('candidates in glibc order', () => {
    const conf = { search: ['a.test', 'b.test'], ndots: 1 };
    expect(searchCandidates('svc', false, conf)).toEqual(['svc.a.test', 'svc.b.test', 'svc']);
    expect(searchCandidates('svc.x', false, conf)).toEqual(['svc.x', 'svc.x.a.test', 'svc.x.b.test']);
    expect(searchCandidates('svc.x', false, { ...conf, ndots: 2 })).toEqual(['svc.x.a.test', 'svc.x.b.test', 'svc.x']);
    expect(searchCandidates('svc', true, conf)).toEqual(['svc']);
  });
});

describe('getaddrinfo as the last resort', () => {
  it('a name DNS says does not exist goes to getaddrinfo (names only NSS knows)', async () => {
    system.answers.set('printer.mocked.test', ['127.0.0.1']);
    const resolver = resolverFor({ fallback: {} });
    expect(await resolver.resolve('printer.mocked.test', AbortSignal.timeout(10_000))).toEqual(['127.0.0.1']);
    expect(system.calls).toEqual(['printer.mocked.test']);
    expect(seen('printer.mocked.test')).toBeGreaterThan(0);
    const err = await failure(resolver.resolve('absent.mocked.test', AbortSignal.timeout(10_000)));
    expect(err.reason).toBe('dns');
    expect(err.message).toContain('DNS has no address for it (ENOTFOUND); system resolver: getaddrinfo ENOTFOUND absent.mocked.test');
  });

  it('with no DNS server configured, getaddrinfo is asked directly', async () => {
    system.answers.set('noserver.mocked.test', ['127.0.0.1']);
    const resolver = resolverFor({ servers: [], fallback: {} });
    const before = dns.questions.length;
    expect(await resolver.resolve('noserver.mocked.test', AbortSignal.timeout(10_000))).toEqual(['127.0.0.1']);
    expect(system.calls).toEqual(['noserver.mocked.test']);
    expect(dns.questions.length).toBe(before);
  });

  it('the real getaddrinfo answers for a name of the real /etc/hosts that the resolver does not read', async (test) => {
    const hostsNames = [...parseHosts(readFileSync('/etc/hosts', 'utf8')).entries()].filter(([name, addrs]) => !name.includes('localhost') && addrs.includes('127.0.0.1'));
    if (hostsNames.length === 0) test.skip();
    const [name] = hostsNames[0]!;
    // The test server refuses names outside its zones (EREFUSED): no DNS server knows the name.
    const resolver = resolverFor({ fallback: {} });
    expect(await resolver.resolve(name, AbortSignal.timeout(10_000))).toContain('127.0.0.1');
    expect(resolver.stats().fallbackLookups).toBe(1);
  });

  it(`getaddrinfo is bounded process-wide (${SYSTEM_LOOKUPS_IN_FLIGHT} in flight): the others queue within their deadline, then fail with dns`, async () => {
    const resolvers = [resolverFor({ fallback: {} }), resolverFor({ fallback: {} })];
    const run = new AbortController();
    const lookups = Array.from({ length: 4 }, (_, i) => failure(resolvers[i % 2]!.resolve(`held${i}.mocked.test`, run.signal)));
    await until(() => resolvers[0]!.stats().fallbackQueued === 4 - SYSTEM_LOOKUPS_IN_FLIGHT);
    expect(system.active).toBe(SYSTEM_LOOKUPS_IN_FLIGHT);
    expect(resolvers[1]!.stats().fallbackInFlight).toBe(SYSTEM_LOOKUPS_IN_FLIGHT);
    run.abort();
    for (const err of await Promise.all(lookups)) {
      expect(err.reason).toBe('dns');
      expect(err.message).toMatch(/deadline reached after \d+ ms while waiting for the system resolver \(getaddrinfo\)/);
    }
    expect(resolvers[0]!.stats().fallbackQueued).toBe(0);
    // A getaddrinfo call cannot be cancelled: its slot stays taken until it returns.
    expect(resolvers[0]!.stats().fallbackInFlight).toBe(SYSTEM_LOOKUPS_IN_FLIGHT);
    for (const release of system.held.splice(0)) release();
    await until(() => resolvers[0]!.stats().fallbackInFlight === 0);
    expect(system.maxActive).toBe(SYSTEM_LOOKUPS_IN_FLIGHT);
  });

  it('with the queue full, a lookup fails at once with dns, naming the busy system resolver', async () => {
    let active = 0;
    let maxActive = 0;
    const release: Array<() => void> = [];
    const lookup = async (): Promise<string[]> => {
      maxActive = Math.max(maxActive, ++active);
      await new Promise<void>((resolve) => release.push(resolve));
      active--;
      return ['127.0.0.1'];
    };
    const resolver = resolverFor({ fallback: { lookup, maxInFlight: 1, maxQueued: 1 } });
    const first = resolver.resolve('one.mocked.test', AbortSignal.timeout(10_000));
    const second = resolver.resolve('two.mocked.test', AbortSignal.timeout(10_000));
    await until(() => resolver.stats().fallbackQueued === 1);
    const err = await failure(resolver.resolve('three.mocked.test', AbortSignal.timeout(10_000)));
    expect(err.reason).toBe('dns');
    expect(err.message).toContain('the system resolver (getaddrinfo) is busy: 1 in flight, 1 waiting');
    release.shift()!();
    expect(await first).toEqual(['127.0.0.1']);
    await until(() => release.length === 1);
    release.shift()!();
    expect(await second).toEqual(['127.0.0.1']);
    expect(maxActive).toBe(1);
  });
});
