import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import { loadWebConfig, parseWebConfigText } from '../../src/http/web/config.js';
import { silentLogger } from '../helpers/fake-probe.js';
import {
  capturingLogger,
  createCa,
  fingerprint,
  hash,
  httpsCall,
  issueClient,
  serverCert,
  startServer,
  tempDir,
  waitFor,
  write,
  writeServerCert,
  type Running,
  type TestCa,
  type TestCert,
} from './certs.js';

let ca: TestCa;
let first: TestCert;
let second: TestCert;
beforeAll(async () => {
  ca = await createCa();
  first = await serverCert(ca);
  second = await serverCert(ca);
});

let running: Running | undefined;
let app: App | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
  await app?.stop();
  app = undefined;
});

/** A directory holding server.crt/server.key and web.yml with `yaml`. */
function webConfig(yaml: string, cert: TestCert = first): { dir: string; path: string } {
  const dir = tempDir();
  writeServerCert(dir, cert);
  return { dir, path: write(dir, 'web.yml', yaml) };
}

const TLS = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';

async function issuesOf(load: () => Promise<unknown>): Promise<readonly string[]> {
  try {
    await load();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loading a web config file', () => {
  it('reads the toolkit keys, resolving relative file names against the file', async () => {
    const { path } = webConfig(
      [
        TLS,
        '  min_version: TLS13',
        '  client_auth_type: RequireClientCert',
        '  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]',
        '  curve_preferences: [X25519, CurveP256]',
        '  prefer_server_cipher_suites: false',
        'http_server_config:',
        '  http2: false',
        '  headers: { X-Frame-Options: deny }',
        'rate_limit: { interval: 1s, burst: 5 }',
        `basic_auth_users: { alice: "${hash('a')}" }`,
      ].join('\n'),
    );
    const config = await loadWebConfig(path);
    expect(config.tls).toMatchObject({
      cert: first.chainPem,
      key: first.keyPem,
      clientAuth: 'RequireAnyClientCert',
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      honorCipherOrder: false,
      ecdhCurve: 'X25519:P-256',
    });
    expect(config.tls?.ciphers).toMatch(/^TLS_.*:ECDHE-ECDSA-AES128-GCM-SHA256$/);
    expect(config.http2).toBe(false);
    expect(config.headers).toEqual({ 'X-Frame-Options': 'deny' });
    expect(config.rateLimit).toEqual({ intervalMs: 1000, burst: 5 });
    expect([...config.users.keys()]).toEqual(['alice']);
  });

  it('an empty file, or one without TLS keys, means plain HTTP and no auth', async () => {
    expect(await loadWebConfig(webConfig('').path)).toMatchObject({ tls: undefined, users: new Map(), headers: {}, rateLimit: undefined });
    expect((await loadWebConfig(webConfig('tls_server_config:\n  min_version: TLS13\nhttp_server_config:\n').path)).tls).toBeUndefined();
  });

  it('inline cert and key work like the files', async () => {
    const text = `tls_server_config:\n  cert: ${JSON.stringify(first.chainPem)}\n  key: ${JSON.stringify(first.keyPem)}\n`;
    expect((await parseWebConfigText(text, 'inline', tmpdir())).tls?.cert).toBe(first.chainPem);
  });

  it('an unknown key, a missing cert file, a bad bcrypt hash and a bad min_version are each named with their path', async () => {
    expect(await issuesOf(() => loadWebConfig(webConfig(`${TLS}  cert_path: x\nbasic_auth: {}\n`).path))).toEqual([
      'tls_server_config: unknown key "cert_path"',
      '(root): unknown key "basic_auth"',
    ]);
    const { dir, path } = webConfig('tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n');
    expect(await issuesOf(() => loadWebConfig(path))).toEqual([`tls_server_config.cert_file: cannot read ${join(dir, 'missing.crt')}: ENOENT`]);
    expect(await issuesOf(() => loadWebConfig(webConfig(`basic_auth_users:\n  alice: secret\n  bob: "${hash('b')}"\n`).path))).toEqual([
      'basic_auth_users.alice: not a bcrypt hash',
    ]);
    expect(await issuesOf(() => loadWebConfig(webConfig(`${TLS}  min_version: TLS1.2\n`).path))).toEqual([
      'tls_server_config.min_version: must be one of "TLS10", "TLS11", "TLS12", "TLS13"',
    ]);
  });

  it('every other mistake is a start-up error naming where it is', async () => {
    const other = await serverCert(ca);
    const { dir } = webConfig('');
    write(dir, 'other.key', other.keyPem);
    write(dir, 'empty-ca.pem', 'no certificates here\n');
    const cases: Array<[string, string[]]> = [
      ['tls_server_config:\n  cert_file: server.crt\n', ['tls_server_config: missing one of key or key_file']],
      [`tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n`, ['tls_server_config.key_file: does not match the certificate in cert_file']],
      [`tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n`, ['tls_server_config.cert_file: no PEM certificate found']],
      [`${TLS}  cert: x\n`, ['tls_server_config.cert: set only one of cert and cert_file']],
      [`${TLS}  client_ca_file: server.crt\n`, ['tls_server_config.client_auth_type: a client CA is configured, so client_auth_type must not be NoClientCert']],
      [`${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: empty-ca.pem\n`, ['tls_server_config.client_ca_file: no PEM certificate found']],
      [`${TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_allowed_sans: [a]\n`, ['tls_server_config.client_allowed_sans: needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert']],
      [`${TLS}  client_auth_type: Sometimes\n`, [expect.stringMatching(/^tls_server_config.client_auth_type: must be one of "NoClientCert", /) as unknown as string]],
      [`${TLS}  min_version: TLS13\n  max_version: TLS12\n`, ['tls_server_config.min_version: TLS13 is above max_version TLS12']],
      [`${TLS}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n`, [expect.stringMatching(/^tls_server_config.cipher_suites\[0\]: must be one of /) as unknown as string]],
      [`${TLS}  curve_preferences: [CurveP999]\n`, ['tls_server_config.curve_preferences[0]: must be one of "CurveP256", "CurveP384", "CurveP521", "X25519"']],
      ['http_server_config:\n  headers: { X-Powered-By: me }\n', [expect.stringMatching(/^http_server_config.headers\["X-Powered-By"\]: HTTP header "X-Powered-By" can not be configured/) as unknown as string]],
      ['http_server_config:\n  headers: { X-Frame-Options: allow }\n', ['http_server_config.headers["X-Frame-Options"]: must be one of "deny", "sameorigin"']],
      ['http_server_config:\n  http2: yes please\n', ['http_server_config.http2: expected boolean, received string']],
      [`basic_auth_users:\n  "a:b": "${hash('x')}"\n`, ['basic_auth_users["a:b"]: a user name cannot contain ":" (basic auth splits on it)']],
      ['rate_limit: { interval: 1s }\n', ['rate_limit.burst: must be at least 1 when rate_limit.interval is set (0 would refuse every request)']],
      ['rate_limit: { interval: soon, burst: 1 }\n', ['rate_limit.interval: "soon" is not a duration (use e.g. 100ms, 1s, 1m)']],
      ['tls_server_config: [\n', [expect.stringMatching(/^YAML line \d+: /) as unknown as string]],
    ];
    for (const [yaml, issues] of cases) {
      expect(await issuesOf(() => loadWebConfig(write(dir, 'web.yml', yaml))), yaml).toEqual(issues);
    }
    expect(await issuesOf(() => loadWebConfig(join(dir, 'nope.yml')))).toEqual([`cannot read ${join(dir, 'nope.yml')}: ENOENT`]);
  });

  it('lists every problem at once', async () => {
    const { path } = webConfig(`tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\nbasic_auth_users: { alice: x }\nhttp_server_config: { headers: { X-Frame-Options: allow } }\n`);
    expect(await issuesOf(() => loadWebConfig(path))).toHaveLength(4);
  });
});

describe('serving with TLS', () => {
  it('serves HTTPS with the configured certificate', async () => {
    running = await startServer(webConfig(TLS).path);
    const reply = await httpsCall(running.port, { ca: ca.certPem });
    expect(reply).toMatchObject({ status: 200, body: 'Healthy.\n', fingerprint: fingerprint(first.certPem) });
  });

  it('refuses plain HTTP: the connection is closed, not left hanging', async () => {
    running = await startServer(webConfig(TLS).path);
    const port = running.port;
    const started = Date.now();
    const received = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(data));
      setTimeout(() => reject(new Error('the plain-HTTP connection was left open')), 5000).unref();
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(received).not.toContain('HTTP/1.1 200');
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('serves a certificate swapped on disk without a restart', async () => {
    const { dir, path } = webConfig(TLS);
    running = await startServer(path);
    expect((await httpsCall(running.port, { ca: ca.certPem })).fingerprint).toBe(fingerprint(first.certPem));
    writeServerCert(dir, second);
    const port = running.port;
    await waitFor(async () => ((await httpsCall(port, { ca: ca.certPem })).fingerprint === fingerprint(second.certPem) ? true : undefined), 'the new certificate');
  });

  it('keeps serving the old certificate when the new web config is invalid, and logs why', async () => {
    const { dir, path } = webConfig(TLS);
    const { logger, lines } = capturingLogger();
    running = await startServer(path, logger);
    write(dir, 'web.yml', `${TLS}  min_version: TLS9\n`);
    writeServerCert(dir, second);
    const port = running.port;
    // The disk is looked at when a connection arrives (at most once a second): keep connecting.
    await waitFor(async () => {
      expect(await httpsCall(port, { ca: ca.certPem })).toMatchObject({ status: 200, fingerprint: fingerprint(first.certPem) });
      return lines.some((l) => l.level === 50 && l.msg.startsWith('web config reload refused')) ? true : undefined;
    }, 'the error log');
    expect(lines.find((l) => l.level === 50)?.issues).toEqual(['tls_server_config.min_version: must be one of "TLS10", "TLS11", "TLS12", "TLS13"']);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(await httpsCall(port, { ca: ca.certPem })).toMatchObject({ status: 200, fingerprint: fingerprint(first.certPem) });
    // Fixed: picked up on the next look, without a restart.
    write(dir, 'web.yml', TLS);
    await waitFor(async () => ((await httpsCall(port, { ca: ca.certPem })).fingerprint === fingerprint(second.certPem) ? true : undefined), 'the fixed config');
    // The refusal was logged once, not once a second.
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
  });

  it('RequireAndVerifyClientCert: no certificate or an untrusted one fails, one from the client CA succeeds', async () => {
    const { dir, path } = webConfig(`${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.pem\n`);
    const clientCa = await createCa('client CA');
    write(dir, 'client-ca.pem', clientCa.certPem);
    const trusted = await issueClient(clientCa);
    const stranger = await issueClient(undefined);
    running = await startServer(path);
    const port = running.port;
    await expect(httpsCall(port, { ca: ca.certPem })).rejects.toThrow();
    await expect(httpsCall(port, { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })).rejects.toThrow();
    expect(await httpsCall(port, { ca: ca.certPem, cert: trusted.certPem, key: trusted.keyPem })).toMatchObject({ status: 200 });
  });

  it('RequireAnyClientCert wants a certificate, VerifyClientCertIfGiven checks one only if given', async () => {
    const clientCa = await createCa('client CA');
    const trusted = await issueClient(clientCa);
    const stranger = await issueClient(undefined);

    running = await startServer(webConfig(`${TLS}  client_auth_type: RequireAnyClientCert\n`).path);
    await expect(httpsCall(running.port, { ca: ca.certPem })).rejects.toThrow();
    expect(await httpsCall(running.port, { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })).toMatchObject({ status: 200 });
    await running.close();

    const { dir, path } = webConfig(`${TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: client-ca.pem\n`);
    write(dir, 'client-ca.pem', clientCa.certPem);
    running = await startServer(path);
    expect(await httpsCall(running.port, { ca: ca.certPem })).toMatchObject({ status: 200 });
    expect(await httpsCall(running.port, { ca: ca.certPem, cert: trusted.certPem, key: trusted.keyPem })).toMatchObject({ status: 200 });
    await expect(httpsCall(running.port, { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem })).rejects.toThrow();
  });

  it('a client_auth_type changed on disk applies to the next connections', async () => {
    const { dir, path } = webConfig(TLS);
    running = await startServer(path);
    const port = running.port;
    expect(await httpsCall(port, { ca: ca.certPem })).toMatchObject({ status: 200 });
    write(dir, 'web.yml', `${TLS}  client_auth_type: RequireAnyClientCert\n`);
    await waitFor(() => httpsCall(port, { ca: ca.certPem }).then(() => undefined, () => true), 'the client certificate to be required');
    const client = await issueClient(undefined);
    expect(await httpsCall(port, { ca: ca.certPem, cert: client.certPem, key: client.keyPem })).toMatchObject({ status: 200 });
  });

  it('client_allowed_sans lets in only a certificate carrying one of them', async () => {
    const clientCa = await createCa('client CA');
    const { dir, path } = webConfig(`${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.pem\n  client_allowed_sans: [prometheus.example, "spiffe://lab/scraper"]\n`);
    write(dir, 'client-ca.pem', clientCa.certPem);
    const byDns = await issueClient(clientCa, { dns: ['prometheus.example'] });
    const byUri = await issueClient(clientCa, { uri: ['spiffe://lab/scraper'] });
    const other = await issueClient(clientCa, { dns: ['grafana.example'] });
    running = await startServer(path);
    expect(await httpsCall(running.port, { ca: ca.certPem, cert: byDns.certPem, key: byDns.keyPem })).toMatchObject({ status: 200 });
    expect(await httpsCall(running.port, { ca: ca.certPem, cert: byUri.certPem, key: byUri.keyPem })).toMatchObject({ status: 200 });
    await expect(httpsCall(running.port, { ca: ca.certPem, cert: other.certPem, key: other.keyPem })).rejects.toThrow();
  });

  it('adds the http_server_config headers to every response, 404 and 401 included', async () => {
    running = await startServer(
      webConfig(`${TLS}http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n    Content-Security-Policy: "default-src 'self'"\n    X-XSS-Protection: "0"\nbasic_auth_users: { alice: "${hash('pw')}" }\n`).path,
    );
    const expected = {
      'strict-transport-security': 'max-age=31536000',
      'x-frame-options': 'deny',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'self'",
      'x-xss-protection': '0',
    };
    const port = running.port;
    expect(await httpsCall(port, { ca: ca.certPem, auth: 'alice:pw', path: '/metrics' })).toMatchObject({ status: 200, headers: expected });
    expect(await httpsCall(port, { ca: ca.certPem, auth: 'alice:pw', path: '/nope' })).toMatchObject({ status: 404, headers: expected });
    expect(await httpsCall(port, { ca: ca.certPem })).toMatchObject({ status: 401, headers: expected });
  });

  it('rate_limit answers 429 once the burst is spent', async () => {
    running = await startServer(webConfig(`${TLS}rate_limit: { interval: 1m, burst: 2 }\n`).path);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await httpsCall(running.port, { ca: ca.certPem })).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('the wiring', () => {
  const configText = 'instances: [ { name: lab, endpoints: { customers_portal: "https://127.0.0.1:9", cloud_connector: "https://127.0.0.1:9", duo_workflow_service: "127.0.0.1:9" } } ]\nweb: { listen_address: "127.0.0.1:0" }\n';

  it('startApp takes webConfigFile: url() says https and the server needs the credentials', async () => {
    const { path } = webConfig(`${TLS}basic_auth_users: { prometheus: "${hash('scrape')}" }\n`);
    app = await startApp({ config: await parseConfigText(configText, 'test', { env: {} }), configPath: undefined, logger: silentLogger, env: {}, maxStartJitterMs: 0, webConfigFile: path });
    const url = new URL(app.url());
    expect(url.protocol).toBe('https:');
    const port = Number(url.port);
    expect(await httpsCall(port, { ca: ca.certPem, path: '/metrics' })).toMatchObject({ status: 401 });
    expect((await httpsCall(port, { ca: ca.certPem, path: '/metrics', auth: 'prometheus:scrape' })).body).toContain('gitlab_duo_exporter_build_info');
  });

  it('startApp refuses an invalid web config before starting anything', async () => {
    const { path } = webConfig('basic_auth_users: { alice: plain }\n');
    await expect(startApp({ config: await parseConfigText(configText, 'test', { env: {} }), configPath: undefined, logger: silentLogger, env: {}, webConfigFile: path })).rejects.toThrow(ConfigError);
  });

  it('the CLI exits 2 listing the problems for a bad --web.config.file (needs `npm run build`)', () => {
    const dir = tempDir();
    const config = write(dir, 'config.yaml', configText);
    const web = write(dir, 'web.yml', 'tls_server_config:\n  cert_file: /nonexistent/server.crt\n  key_file: /nonexistent/server.key\n');
    const bin = new URL('../../bin/gitlab-duo-exporter.js', import.meta.url).pathname;
    const run = spawnSync(process.execPath, [bin, `--config.file=${config}`, `--web.config.file=${web}`], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir() },
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('tls_server_config.cert_file: cannot read /nonexistent/server.crt: ENOENT');
    expect(run.stderr).toContain('tls_server_config.key_file: cannot read /nonexistent/server.key: ENOENT');
  });
});

describe('the shipped example and docs', () => {
  const root = new URL('../../', import.meta.url);
  /** The example points at /etc/...; point it at this test's certificate instead. */
  const localise = (text: string, dir: string): string => text.replaceAll('/etc/gitlab-duo-exporter/tls/', `${dir}/`);

  it('web-config.example.yml loads, and its documented password matches its hash', async () => {
    const { dir } = webConfig('');
    const text = readFileSync(new URL('web-config.example.yml', root), 'utf8');
    const config = await loadWebConfig(write(dir, 'web.yml', localise(text, dir)));
    expect(config.tls?.cert).toBe(first.chainPem);
    expect(Object.keys(config.headers).length).toBeGreaterThan(0);
    const password = /password is "([^"]+)"/.exec(text)?.[1];
    expect(password).toBeDefined();
    expect(await bcrypt.compare(password!, config.users.get('prometheus')!)).toBe(true);
  });

  it('every YAML example in docs/web-config.md loads', async () => {
    const { dir } = webConfig('');
    write(dir, 'client-ca.crt', ca.certPem);
    const doc = readFileSync(new URL('docs/web-config.md', root), 'utf8');
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) await expect(parseWebConfigText(localise(block, dir), 'docs/web-config.md', dir), block).resolves.toBeDefined();
  });
});
