import { request, type IncomingHttpHeaders } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { acceptsGzip } from '../../src/http/compress.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { closedPort } from '../helpers/ports.js';

// Issue 14: /metrics, the reports and the status page are gzip-compressed when Accept-Encoding
// allows it, like client_golang. A raw node:http client sees the bytes as sent.

describe('acceptsGzip: Accept-Encoding with q-values (RFC 9110 12.5.3)', () => {
  it.each([
    [undefined, false], // no header: identity, as client_golang
    ['', false],
    ['gzip', true],
    ['GZIP', true],
    ['x-gzip', true],
    ['gzip, deflate, br', true], // curl --compressed, browsers
    ['gzip;q=0', false],
    ['gzip; q=0.000', false],
    ['gzip;q=0.001', true],
    ['gzip;q=1.0', true],
    ['identity', false],
    ['br', false],
    ['*', true],
    ['*;q=0', false],
    ['gzip;q=0, *', false], // gzip named: its own q-value counts, not the wildcard's
    ['*, gzip;q=0', false],
    ['identity;q=1, gzip;q=0.5', false], // the client prefers plain
    ['identity;q=0.5, gzip;q=0.5', true],
    ['gzip;q=abc', false], // malformed: plain is always safe
    ['gzip;q=2', false],
  ])('%j → %s', (header, expected) => {
    expect(acceptsGzip(header)).toBe(expected);
  });
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function call(app: App, path: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  const url = new URL(path, app.url());
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Renders once, then answers every scrape with those bytes: the process metrics move between two scrapes. */
async function freeze(registry: { render(): Promise<Buffer[]> }): Promise<Buffer> {
  const chunks = await registry.render();
  registry.render = () => Promise.resolve(chunks);
  return Buffer.concat(chunks);
}

const OPENMETRICS = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';
const PROMETHEUS_ACCEPT_ENCODING = 'gzip'; // what Prometheus sends

let app: App;
const rendered: { text: Buffer; openMetrics: Buffer } = { text: Buffer.alloc(0), openMetrics: Buffer.alloc(0) };

beforeAll(async () => {
  const port = await closedPort();
  const yaml = `instances:\n  - name: lab\n    endpoints:\n      customers_portal: https://127.0.0.1:${port}\n      cloud_connector: https://127.0.0.1:${port}\n      duo_workflow_service: 127.0.0.1:${port}\nweb:\n  listen_address: 127.0.0.1:0\n`;
  app = await startApp({ config: await parseConfigText(yaml, 'test', { env: {} }), configPath: undefined, logger: silentLogger, env: {}, maxStartJitterMs: 0 });
  rendered.text = await freeze(app.metrics.prometheus);
  rendered.openMetrics = await freeze(app.metrics.openMetrics);
});
afterAll(() => app?.stop());

describe('/metrics', () => {
  it.each([
    ['text format', {}, 'text'],
    ['OpenMetrics', { accept: OPENMETRICS }, 'openMetrics'],
  ] as const)('%s: gzip when asked; it decompresses to the very bytes of the plain answer', async (_name, accept, format) => {
    const zipped = await call(app, '/metrics', { ...accept, 'accept-encoding': PROMETHEUS_ACCEPT_ENCODING });
    const plain = await call(app, '/metrics', { ...accept });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toMatch(/\bAccept-Encoding\b/);
    expect(zipped.headers['content-length']).toBe(String(zipped.body.length));
    expect(zipped.headers['content-type']).toBe(plain.headers['content-type']);
    expect(zipped.body.length).toBeLessThan(plain.body.length / 3);
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    expect(plain.body.equals(rendered[format])).toBe(true);
    expect(plain.body.toString()).toContain('gitlab_duo_exporter_build_info{');
  });

  it.each([
    ['no Accept-Encoding', {}],
    ['identity', { 'accept-encoding': 'identity' }],
    ['gzip;q=0', { 'accept-encoding': 'gzip;q=0, identity' }],
    ['only br', { 'accept-encoding': 'br' }],
  ])('%s: plain, with its length and still Vary', async (_name, headers) => {
    const answer = await call(app, '/metrics', headers);
    expect(answer.headers['content-encoding']).toBeUndefined();
    expect(answer.headers.vary).toMatch(/\bAccept-Encoding\b/);
    expect(answer.headers['content-length']).toBe(String(answer.body.length));
    expect(answer.body.equals(rendered.text)).toBe(true);
  });

  it('HEAD: the headers of the compressed GET, no body', async () => {
    const get = await call(app, '/metrics', { 'accept-encoding': 'gzip' });
    const head = await call(app, '/metrics', { 'accept-encoding': 'gzip' }, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
  });
});

// The reports carry the time they were made; compare them without it.
const withoutTime = (text: string): string => text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z/g, 'TIME');

describe('the report endpoints and the status page', () => {
  it.each(['/report.json', '/report.md', '/'])('%s: gzip when asked, the same content as plain', async (path) => {
    const zipped = await call(app, path, { 'accept-encoding': 'gzip, deflate' });
    const plain = await call(app, path, {});
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toMatch(/\bAccept-Encoding\b/);
    expect(zipped.headers['content-length']).toBe(String(zipped.body.length));
    expect(zipped.headers['content-type']).toBe(plain.headers['content-type']);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers['content-length']).toBe(String(plain.body.length));
    expect(withoutTime(gunzipSync(zipped.body).toString())).toBe(withoutTime(plain.body.toString()));
    expect(plain.body.toString()).toContain('lab');
  });

  it('a small answer (/-/healthy) is left alone', async () => {
    const answer = await call(app, '/-/healthy', { 'accept-encoding': 'gzip' });
    expect(answer.body.toString()).toBe('Healthy.\n');
    expect(answer.headers['content-encoding']).toBeUndefined();
  });
});
