import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { writeFigures } from '../../reliability/lib/figures.js';
import { startApp, type App } from '../../src/app.js';
import { loadConfigFile } from '../../src/config/load.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { closedPort } from '../helpers/ports.js';
import { LOOPBACK, startSilentServer } from '../helpers/servers.js';
import { leaksSince, resources, sleep } from './lib/daemon.js';

/**
 * Issue #6, part 6: what a caller of the exporter's HTTP endpoints can and cannot do. No route
 * takes a probe target (a canary server must never see a connection, whatever the query, headers
 * or method), none reveals a token, /-/reload answers POST only and sits behind the same basic
 * auth as everything else when a web config sets one, and headers, URLs and bodies are bounded.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_TOKEN = 'sentinel-endpoint-admin-8f3a1c5d';
const DUO_TOKEN = 'sentinel-endpoint-duo-2b7e9d04';
const PASSWORD = 'the-right-password';
const ROUTES = ['/metrics', '/', '/report.json', '/report.md', '/-/healthy', '/-/ready', '/-/reload', '/probe', '/api/v1/targets', '/-/config', '/config', '/debug/pprof/', '/%2e%2e/%2e%2e/etc/passwd', '/metrics/../report.json'];
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
const tally = { tried: 0, handled: 0 };

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function call(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: options.method ?? 'GET', headers: { connection: 'close', ...options.headers }, agent: false, signal: AbortSignal.timeout(5000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Writes raw bytes and returns what came back before the server closed (or 3 s passed). */
function raw(port: number, data: Buffer | string, more?: { chunk: Buffer; times: number }): Promise<{ answer: string; written: number; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, LOOPBACK);
    let answer = '';
    let written = 0;
    let closedByServer = false;
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answer, written, closedByServer });
    };
    const timer = setTimeout(done, 3000);
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closedByServer = true;
      done();
    });
    socket.write(data);
    if (more) {
      let left = more.times;
      const pump = (): void => {
        while (left-- > 0 && !socket.destroyed) {
          written += more.chunk.length;
          if (!socket.write(more.chunk)) return void socket.once('drain', pump);
        }
      };
      pump();
    }
  });
}

async function exporter(webConfig?: string): Promise<{ app: App; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gde-endpoints-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const dead = await closedPort();
  const configPath = join(dir, 'config.yaml');
  writeFileSync(
    configPath,
    stringify({
      instances: [
        {
          name: 'lab',
          url: `https://127.0.0.1:${dead}`,
          admin_token: ADMIN_TOKEN,
          duo_user_token: DUO_TOKEN,
          endpoints: { customers_portal: `https://127.0.0.1:${dead}`, cloud_connector: `https://127.0.0.1:${dead}`, duo_workflow_service: `127.0.0.1:${dead}` },
        },
      ],
      defaults: { probes: { health_check: { timeout: '2s' }, license: { timeout: '2s' } } },
      web: { listen_address: `${LOOPBACK}:0` },
    }),
  );
  let webConfigFile: string | undefined;
  if (webConfig) {
    webConfigFile = join(dir, 'web.yml');
    writeFileSync(webConfigFile, webConfig);
  }
  const app = await startApp({ config: await loadConfigFile(configPath, { env: {} }), configPath, logger: silentLogger, env: {}, maxStartJitterMs: 0, webConfigFile, enableLifecycle: true });
  onTestFinished(() => app.stop());
  return { app, dir };
}

function expectHandled(ok: boolean, what: string): void {
  tally.tried++;
  if (ok) tally.handled++;
  expect.soft(ok, what).toBe(true);
}

describe('endpoint safety', () => {
  afterAll(() => {
    const lines = [`${tally.tried} hostile requests (targets in queries and headers, every method on every route, oversized headers, URLs and bodies, missing or wrong credentials): ${tally.handled} answered as designed`];
    console.log(`[reliability] endpoints\n  ${lines.join('\n  ')}`);
    writeFigures(REPO, 'endpoints', { part: 'endpoint safety', badInputsTried: tally.tried, badInputsHandled: tally.handled, lines });
  });

  it('no route takes a target or shows a token, whatever the method, query or headers; /-/reload is POST only', async () => {
    const canary = await startSilentServer();
    const target = `127.0.0.1:${canary.port}`;
    const { app } = await exporter();
    const query = `?target=${target}&module=http_2xx&url=https://${target}/&instance=${target}&probe=license&token=x`;
    for (const route of ROUTES) {
      for (const method of METHODS) {
        const reply = await call(app.url(), `${route}${query}`, {
          method,
          headers: { 'x-forwarded-host': target, 'x-target': target, 'x-prometheus-scrape-timeout-seconds': '0.001' },
          body: method === 'POST' || method === 'PUT' || method === 'PATCH' ? JSON.stringify({ target, url: `https://${target}` }) : undefined,
        });
        const where = `${method} ${route}`;
        const noToken = !reply.body.includes(ADMIN_TOKEN) && !reply.body.includes(DUO_TOKEN) && !JSON.stringify(reply.headers).includes(ADMIN_TOKEN);
        let ok = noToken && reply.status < 500;
        if (route === '/-/reload') ok &&= method === 'POST' ? reply.status === 200 : reply.status === 405 && reply.headers.allow === 'POST';
        expectHandled(ok, `${where} → ${reply.status} ${reply.body.slice(0, 80)}`);
      }
    }
    // Give a run that a request might have triggered the time to connect: none may.
    await sleep(300);
    expect(canary.accepted(), 'connections the canary target received').toBe(0);
  });

  it('headers, URLs and bodies are bounded', async () => {
    const { app } = await exporter();
    const port = Number(new URL(app.url()).port);
    const baseline = resources();
    const bigHeader = await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expectHandled(/^HTTP\/1\.1 431 /.test(bigHeader.answer), `20 KiB header → ${bigHeader.answer.split('\r\n')[0]}`);
    const manyHeaders = await raw(port, `GET /metrics HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 3000 }, (_v, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`);
    expectHandled(/^HTTP\/1\.1 431 /.test(manyHeaders.answer), `3000 headers → ${manyHeaders.answer.split('\r\n')[0]}`);
    const longUrl = await raw(port, `GET /metrics?${'q'.repeat(20 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectHandled(/^HTTP\/1\.1 431 /.test(longUrl.answer), `20 KiB URL → ${longUrl.answer.split('\r\n')[0]}`);
    // A declared body of 1 GB: refused at once, connection closed, nothing like 1 GB read.
    const declared = await raw(port, 'POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n', { chunk: Buffer.alloc(1 << 20), times: 1000 });
    expectHandled(/^HTTP\/1\.1 413 /.test(declared.answer) && declared.closedByServer && declared.written < 200 * (1 << 20), `1 GB declared body → ${declared.answer.split('\r\n')[0]}, ${declared.written} bytes written`);
    // The same, chunked (no length announced): the connection goes once past the limit.
    const chunked = await raw(port, 'POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', { chunk: Buffer.from(`100000\r\n${'b'.repeat(0x100000)}\r\n`), times: 1000 });
    expectHandled(chunked.closedByServer && chunked.written < 200 * (1 << 20), `1 GB chunked body → closed by the server after ${chunked.written} bytes`);
    // A small body is fine (curl -X POST -d '' and friends).
    const small = await call(app.url(), '/-/reload', { method: 'POST', body: 'x'.repeat(100) });
    expectHandled(small.status === 200, `a 100-byte body → ${small.status}`);
    // Slow clients trickling headers hold a socket each, not the server.
    const slow = Array.from({ length: 100 }, () => {
      const socket = connect(port, LOOPBACK);
      socket.on('error', () => undefined);
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      return socket;
    });
    const start = performance.now();
    const metrics = await call(app.url(), '/metrics');
    expectHandled(metrics.status === 200 && performance.now() - start < 2000, `/metrics with 100 slow clients connected → ${metrics.status} in ${(performance.now() - start).toFixed(0)} ms`);
    for (const socket of slow) socket.destroy();
    await app.stop();
    expect(await leaksSince(baseline), 'nothing left open').toEqual({});
  });

  it('with a web config, every route and /-/reload sit behind the same basic auth', async () => {
    const hash = bcrypt.hashSync(PASSWORD, 4);
    const { app } = await exporter(stringify({ basic_auth_users: { prometheus: hash } }));
    const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    for (const route of ['/metrics', '/', '/report.json', '/report.md', '/-/healthy', '/-/ready', '/-/reload', '/nowhere']) {
      for (const method of route === '/-/reload' ? ['GET', 'POST'] : ['GET']) {
        for (const [who, authorization] of [
          ['nobody', undefined],
          ['a wrong password', basic('prometheus', 'wrong')],
          ['an unknown user', basic('mallory', PASSWORD)],
          ['a malformed header', 'Basic !!!'],
          ['a bearer token', `Bearer ${ADMIN_TOKEN}`],
        ] as const) {
          const reply = await call(app.url(), route, { method, headers: authorization ? { authorization } : {} });
          expectHandled(reply.status === 401 && reply.headers['www-authenticate'] === 'Basic', `${method} ${route} as ${who} → ${reply.status}`);
        }
        const reply = await call(app.url(), route, { method, headers: { authorization: basic('prometheus', PASSWORD) } });
        const expected = route === '/nowhere' ? 404 : route === '/-/reload' && method === 'GET' ? 405 : 200;
        expectHandled(reply.status === expected, `${method} ${route} with the right password → ${reply.status}`);
      }
    }
  });
});
