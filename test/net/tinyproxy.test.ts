import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { expectSample } from '../helpers/exposition.js';
import { runOnce } from '../helpers/network-probe.js';
import { expectOutcome, expectSocketsClosed, phaseSeconds } from '../helpers/probe-harness.js';
import { freePort, LOOPBACK, startHttpsServer } from '../helpers/servers.js';
import { createPki, type TestPki } from '../helpers/tls.js';

/**
 * The probes through a real, widely deployed forward proxy: Debian's tinyproxy, started here with
 * a generated config on a free loopback port. Missing binary = a failed test, never a skipped one.
 */

const TARGET = 'localhost'; // tinyproxy resolves it itself (/etc/hosts: 127.0.0.1)

function findTinyproxy(): string {
  // Debian puts it in /usr/bin (older releases: /usr/sbin). The test's own environment is not read.
  const dirs = ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'tinyproxy');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error('tinyproxy is not installed: this test needs the Debian package "tinyproxy" (apt-get install tinyproxy)');
}

interface Tinyproxy {
  readonly url: string;
  /** Everything tinyproxy logged so far. */
  log(): string;
}

async function startTinyproxy(connectPort: number): Promise<Tinyproxy> {
  const binary = findTinyproxy();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gde-tinyproxy-'));
  const config = join(dir, 'tinyproxy.conf');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      `Listen ${LOOPBACK}`,
      'Timeout 10',
      `Allow ${LOOPBACK}`,
      `ConnectPort ${connectPort}`,
      'MaxClients 10',
      'LogLevel Info',
      '',
    ].join('\n'),
  );
  let output = '';
  const child: ChildProcess = spawn(binary, ['-d', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ready = Date.now() + 5000;
  while (!output.includes('Accepting connections')) {
    if (child.exitCode !== null) throw new Error(`tinyproxy exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > ready) throw new Error(`tinyproxy did not start within 5 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { url: `http://${LOOPBACK}:${port}`, log: () => output };
}

let pki: TestPki;

beforeAll(async () => {
  pki = await createPki({ dns: [TARGET] });
});

describe('through Debian tinyproxy', () => {
  it('customers_portal via tinyproxy CONNECT → success, the tunnel timed as proxy_connect', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2', reply: 503 });
    const tinyproxy = await startTinyproxy(server.port);
    const outcome = await runOnce({
      probe: 'customers_portal',
      endpoints: { customers_portal: `https://${TARGET}:${server.port}` },
      caPem: pki.ca.certPem,
      proxy: { url: tinyproxy.url },
      timeout: '5s',
    });

    await expectOutcome(outcome, undefined);
    await expectSocketsClosed(outcome);
    await expectSample(outcome.registry, 'gitlab_duo_http_status_code', { gitlab: 'test', probe: 'customers_portal' }, 503);
    expect(server.requests.map((r) => r.method)).toEqual(['HEAD']);
    expect(await phaseSeconds(outcome, 'proxy_connect')).toBeGreaterThan(0);
    expect(tinyproxy.log()).toContain(`CONNECT ${TARGET}:${server.port}`);
  });

  it('a port tinyproxy does not allow for CONNECT → proxy', async () => {
    const server = await startHttpsServer({ cert: pki.valid, alpn: 'h2' });
    const tinyproxy = await startTinyproxy(server.port === 65535 ? 65534 : server.port + 1);
    const outcome = await runOnce({
      probe: 'customers_portal',
      endpoints: { customers_portal: `https://${TARGET}:${server.port}` },
      caPem: pki.ca.certPem,
      proxy: { url: tinyproxy.url },
      timeout: '5s',
    });
    await expectOutcome(outcome, 'proxy');
    expect(server.requests).toEqual([]);
  });
});
