import bcrypt from 'bcryptjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BasicAuthChecker, parseBasicAuth, TokenBucket } from '../../src/http/auth.js';
import { createCa, hash, httpsCall, serverCert, startServer, tempDir, waitFor, write, writeServerCert, type Running, type TestCa } from './certs.js';

let ca: TestCa;
let dir: string;
const TLS = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';

beforeAll(async () => {
  ca = await createCa();
  dir = tempDir();
  writeServerCert(dir, await serverCert(ca));
});

let running: Running | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function serve(users: Record<string, string>, extra = ''): Promise<number> {
  const lines = Object.entries(users).map(([user, h]) => `  ${user}: "${h}"`);
  running = await startServer(write(dir, `web-${Math.random().toString(36).slice(2)}.yml`, `${TLS}${extra}basic_auth_users:\n${lines.join('\n')}\n`));
  return running.port;
}

describe('basic auth over HTTPS', () => {
  it('right credentials → 200; wrong, unknown or missing → 401 with WWW-Authenticate: Basic', async () => {
    const port = await serve({ alice: hash('wonderland'), bob: hash('builder') });
    const call = (auth?: string) => httpsCall(port, { ca: ca.certPem, path: '/metrics', auth });
    expect(await call('alice:wonderland')).toMatchObject({ status: 200 });
    expect(await call('bob:builder')).toMatchObject({ status: 200 });
    for (const auth of ['alice:builder', 'alice:', 'mallory:wonderland', undefined]) {
      const reply = await call(auth);
      expect(reply, String(auth)).toMatchObject({ status: 401, body: 'Unauthorized\n' });
      expect(reply.headers['www-authenticate'], String(auth)).toBe('Basic');
    }
    expect((await httpsCall(port, { ca: ca.certPem, path: '/metrics', auth: 'alice:wonderland' })).body).toContain('# HELP');
  });

  it('covers every endpoint, /-/reload included', async () => {
    const port = await serve({ alice: hash('pw') });
    for (const path of ['/', '/metrics', '/-/healthy', '/-/ready', '/report.json', '/report.md', '/nope']) {
      expect((await httpsCall(port, { ca: ca.certPem, path })).status, path).toBe(401);
    }
    expect(await httpsCall(port, { ca: ca.certPem, path: '/-/reload', method: 'POST' })).toMatchObject({ status: 401 });
    expect(running!.reloads.count).toBe(0);
    expect(await httpsCall(port, { ca: ca.certPem, path: '/-/reload', method: 'POST', auth: 'alice:pw' })).toMatchObject({ status: 200, body: 'Reloaded.\n' });
    expect(running!.reloads.count).toBe(1);
  });

  it('accepts htpasswd ($2y$) hashes and passwords containing colons', async () => {
    const port = await serve({ alice: hash('a:b:c').replace(/^\$2[ab]\$/, '$2y$') });
    expect(await httpsCall(port, { ca: ca.certPem, auth: 'alice:a:b:c' })).toMatchObject({ status: 200 });
    expect(await httpsCall(port, { ca: ca.certPem, auth: 'alice:a:b' })).toMatchObject({ status: 401 });
  });

  it('a user added to the file on disk is accepted without a restart', async () => {
    const port = await serve({ alice: hash('pw') });
    const file = running!.watcher.path;
    expect(await httpsCall(port, { ca: ca.certPem, auth: 'carol:pw2' })).toMatchObject({ status: 401 });
    write(dir, file.slice(dir.length + 1), `${TLS}basic_auth_users:\n  alice: "${hash('pw')}"\n  carol: "${hash('pw2')}"\n`);
    await waitFor(async () => ((await httpsCall(port, { ca: ca.certPem, auth: 'carol:pw2' })).status === 200 ? true : undefined), 'carol');
  });

  it('also works on plain HTTP when the file has no TLS part', async () => {
    running = await startServer(write(dir, 'plain.yml', `basic_auth_users:\n  alice: "${hash('pw')}"\n`));
    const url = `http://127.0.0.1:${running.port}/-/healthy`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } })).status).toBe(200);
  });
});

describe('BasicAuthChecker', () => {
  const counting = () => {
    const calls: string[] = [];
    const checker = new BasicAuthChecker(async (password, h) => {
      calls.push(password);
      return bcrypt.compare(password, h);
    });
    return { calls, checker };
  };

  it('caches a successful check, keyed so it cannot be reused with another password or hash', async () => {
    const { calls, checker } = counting();
    const users = new Map([['alice', hash('right')]]);
    expect(await checker.check(users, 'alice', 'right')).toBe(true);
    expect(await checker.check(users, 'alice', 'right')).toBe(true);
    expect(calls).toEqual(['right']);
    expect(await checker.check(users, 'alice', 'wrong')).toBe(false);
    expect(await checker.check(users, 'alice', 'wrong')).toBe(false);
    expect(calls).toEqual(['right', 'wrong', 'wrong']);
    // The hash changed (a new password was set): the old password no longer passes from the cache.
    const changed = new Map([['alice', hash('new')]]);
    expect(await checker.check(changed, 'alice', 'right')).toBe(false);
    expect(await checker.check(changed, 'alice', 'new')).toBe(true);
  });

  it('an unknown user still costs one bcrypt run (no user enumeration by timing) and never passes', async () => {
    const { calls, checker } = counting();
    expect(await checker.check(new Map([['alice', hash('pw')]]), 'mallory', 'fakepassword')).toBe(false);
    expect(calls).toEqual(['fakepassword']);
  });

  it('runs bcrypt one at a time', async () => {
    let active = 0;
    let most = 0;
    const checker = new BasicAuthChecker(async () => {
      most = Math.max(most, ++active);
      await new Promise((resolve) => setTimeout(resolve, 10));
      active--;
      return false;
    });
    const users = new Map([['a', hash('x')]]);
    await Promise.all(['1', '2', '3', '4'].map((p) => checker.check(users, 'a', p)));
    expect(most).toBe(1);
  });
});

describe('parseBasicAuth', () => {
  it('reads Go-style basic credentials', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    expect(parseBasicAuth(`Basic ${b64('u:p:q')}`)).toEqual({ user: 'u', password: 'p:q' });
    expect(parseBasicAuth(`basic ${b64('u:')}`)).toEqual({ user: 'u', password: '' });
    expect(parseBasicAuth(`Basic ${b64('no-colon')}`)).toBeUndefined();
    expect(parseBasicAuth('Bearer abc')).toBeUndefined();
    expect(parseBasicAuth(undefined)).toBeUndefined();
  });
});

describe('TokenBucket', () => {
  it('starts full and refills one token per interval', () => {
    const bucket = new TokenBucket(1000, 2, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, false]);
    expect(bucket.take(999)).toBe(false);
    expect(bucket.take(2000)).toBe(true);
  });
});
