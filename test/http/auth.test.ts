import bcrypt from 'bcryptjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuthCheckAbortedError, AuthQueueFullError, BasicAuthChecker, parseBasicAuth, TokenBucket } from '../../src/http/web/auth.js';
import { BcryptWorker } from '../../src/http/web/bcrypt-worker.js';
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

describe('BasicAuthChecker queue (issue #12)', () => {
  const users = new Map([['a', hash('x')]]);
  /** A compare function that answers only when told to. */
  const held = () => {
    const calls: string[] = [];
    const answers: Array<(ok: boolean) => void> = [];
    const checker = new BasicAuthChecker(
      (password) => {
        calls.push(password);
        return new Promise((resolve) => answers.push(resolve));
      },
      { maxWaiting: 2 },
    );
    return { calls, answers, checker };
  };

  it('refuses a check at once (AuthQueueFullError) when maxWaiting checks wait behind the running one', async () => {
    const { calls, answers, checker } = held();
    const checks = ['1', '2', '3'].map((p) => checker.check(users, 'a', p));
    expect([checker.busy, checker.waiting]).toEqual([true, 2]);
    await expect(checker.check(users, 'a', '4')).rejects.toBeInstanceOf(AuthQueueFullError);
    for (let i = 0; i < 3; i++) {
      await vi.waitFor(() => expect(answers).toHaveLength(i + 1));
      answers[i]!(false);
    }
    expect(await Promise.all(checks)).toEqual([false, false, false]);
    expect(calls).toEqual(['1', '2', '3']);
    // Room again.
    const again = checker.check(users, 'a', '5');
    await vi.waitFor(() => expect(answers).toHaveLength(4));
    answers[3]!(false);
    expect(await again).toBe(false);
  });

  it('a waiting check whose signal aborts leaves the queue and never runs; an aborted signal is refused at once', async () => {
    const { calls, answers, checker } = held();
    const running = checker.check(users, 'a', 'running');
    const gone = new AbortController();
    const dropped = checker.check(users, 'a', 'dropped', gone.signal);
    const kept = checker.check(users, 'a', 'kept');
    expect(checker.waiting).toBe(2);
    gone.abort();
    await expect(dropped).rejects.toBeInstanceOf(AuthCheckAbortedError);
    expect(checker.waiting).toBe(1);
    await expect(checker.check(users, 'a', 'late', gone.signal)).rejects.toBeInstanceOf(AuthCheckAbortedError);
    answers[0]!(false);
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    answers[1]!(false);
    expect([await running, await kept]).toEqual([false, false]);
    expect(calls).toEqual(['running', 'kept']);
  });

  it('remembered() answers from the cache only, synchronously, without a bcrypt run', async () => {
    const calls: string[] = [];
    const checker = new BasicAuthChecker(async (password, h) => {
      calls.push(password);
      return bcrypt.compare(password, h);
    });
    expect(checker.remembered(users, 'a', 'x')).toBe(false);
    expect(await checker.check(users, 'a', 'x')).toBe(true);
    expect(checker.remembered(users, 'a', 'x')).toBe(true);
    expect(checker.remembered(users, 'a', 'y')).toBe(false);
    expect(checker.remembered(users, 'b', 'x')).toBe(false);
    expect(calls).toEqual(['x']);
  });
});

describe('bcrypt in a worker thread (issue #12)', () => {
  /** bcrypt cost 12 of "cost-twelve": hundreds of ms of CPU in bcryptjs. */
  const COST_12 = '$2b$12$zToNhCja94wthUdLTLndzexfD62DPMyt/NuB9Zt0hzDOT7tkXoVza';
  /** Cost 31: 2^31 rounds, never finishes. */
  const COST_31 = `$2b$31$${COST_12.slice(7)}`;

  it('the event loop keeps turning while a real cost-12 check runs (the default checker)', async () => {
    const checker = new BasicAuthChecker();
    try {
      // Started (and bcryptjs loaded) first: what is counted below is the hashing alone.
      expect(await checker.check(new Map([['alice', hash('warm')]]), 'alice', 'warm')).toBe(true);
      const users = new Map([['alice', COST_12]]);
      for (const [password, expected] of [['cost-twelve', true], ['wrong', false]] as const) {
        let turns = 0;
        let settled = false;
        const check = checker.check(users, 'alice', password).finally(() => (settled = true));
        // bcryptjs on the main thread yields only every 100 ms of hashing: a handful of turns
        // for a cost-12 check. In the worker, the loop is free the whole time.
        while (!settled && turns < 100) {
          await new Promise((resolve) => setImmediate(resolve));
          turns++;
        }
        expect(turns, `event-loop turns while checking "${password}"`).toBe(100);
        expect(await check).toBe(expected);
      }
    } finally {
      await checker.close();
    }
  });

  it('a check past its deadline fails, with every check in flight, and the next check gets a new worker', async () => {
    const worker = new BcryptWorker({ deadlineMs: 300 });
    try {
      const stuck = worker.compare('x', COST_31);
      const behind = worker.compare('cost-twelve', COST_12);
      await expect(stuck).rejects.toThrow(/not answered within 300 ms/);
      await expect(behind).rejects.toThrow(/restarted/);
      expect(worker.running).toBe(false);
      expect(await worker.compare('x', hash('x'))).toBe(true);
      expect(worker.started).toBe(2);
    } finally {
      await worker.close();
    }
    expect(worker.running).toBe(false);
  });

  it('an error inside bcrypt fails that check only; the worker carries on', async () => {
    const worker = new BcryptWorker();
    try {
      await expect(worker.compare('x', `$2b$99$${COST_12.slice(7)}`)).rejects.toThrow(/^bcrypt: Illegal number of rounds/);
      expect(await worker.compare('x', hash('x'))).toBe(true);
      expect(worker.started).toBe(1);
    } finally {
      await worker.close();
    }
  });

  it('holds the process open only while a check is in flight', async () => {
    const ports = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'MessagePort').length;
    const before = ports();
    const worker = new BcryptWorker();
    try {
      const check = worker.compare('x', hash('x'));
      expect(ports()).toBe(before + 1);
      expect(await check).toBe(true);
      expect(worker.running).toBe(true);
      expect(ports()).toBe(before);
    } finally {
      await worker.close();
    }
  });

  it('stops after idling and starts again on the next check', async () => {
    const worker = new BcryptWorker({ idleMs: 1 });
    try {
      expect(await worker.compare('x', hash('x'))).toBe(true);
      await vi.waitFor(() => expect(worker.running).toBe(false));
      expect(await worker.compare('y', hash('x'))).toBe(false);
      expect(worker.started).toBe(2);
    } finally {
      await worker.close();
    }
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
