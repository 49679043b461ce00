import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProbeError } from '../../src/core/errors.js';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { openConnection } from '../../src/net/connect.js';
import { NameResolver, setNameResolver } from '../../src/net/resolve/name-resolver.js';
import { PHASES } from '../../src/core/run.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { closedPort, startHttpsServer } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';

/**
 * A name with several addresses (AAAA and A): like Ruby's TCPSocket (GitLab's host probe) and Go's
 * dialer, the probe tries the next address when one refuses, instead of failing on the first.
 * The name comes from a hosts file of the test's own (the exporter reads the hosts file itself,
 * src/net/resolve/); no DNS server is asked, so the machine's DNS plays no part.
 */

let previousResolver: NameResolver | undefined;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gde-hosts-'));
  const hostsFile = join(dir, 'hosts');
  writeFileSync(hostsFile, '::1 dual.test\n127.0.0.1 dual.test\n');
  // A DNS server nobody answers on: the name must come from the hosts file.
  previousResolver = setNameResolver(new NameResolver({ hostsFile, servers: [`127.0.0.1:${await closedPort()}`] }));
});

afterAll(() => {
  setNameResolver(previousResolver);
});

let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: ['dual.test'] });
});

function ctx(): Parameters<typeof openConnection>[1] {
  return {
    net: { proxy: undefined, ca: [pki.ca.certPem], insecureSkipVerify: false, resolve: new Map(), cloudflare: loadCloudflareRanges() },
    signal: AbortSignal.timeout(2000),
    record: new RunRecorder(PHASES),
  };
}

describe('openConnection with several addresses', () => {
  it('the first address refuses, the second answers → connected, every address reported', async () => {
    // Listening on 127.0.0.1 only: the same port on ::1 refuses.
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const connection = await openConnection({ host: 'dual.test', port: server.port, tls: { alpn: ['h2'] } }, ctx());
    expect(connection.socket.remoteAddress).toBe('127.0.0.1');
    connection.socket.destroy();
    expect(connection.resolvedAddresses).toEqual(['::1', '127.0.0.1']);
    expect(connection.alpn).toBe('h2');
  });

  it('every address refuses → connect, naming the addresses tried', async () => {
    const port = await closedPort();
    const err = await openConnection({ host: 'dual.test', port }, ctx()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).reason).toBe('connect');
    expect((err as ProbeError).message).toContain('[::1]');
    expect((err as ProbeError).message).toContain('127.0.0.1');
  });
});
