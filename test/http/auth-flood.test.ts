import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BasicAuthChecker, webConfigMiddleware, type CompareFn } from '../../src/http/web/auth.js';
import { WebConfigWatcher } from '../../src/http/web/watcher.js';
import { loadWebConfig } from '../../src/http/web/config.js';
import { hash, tempDir, waitFor, write } from './certs.js';

/**
 * Issue #12, defect 2 and the first part of defect 9: an anonymous client must not be able to
 * jam basic auth. The bcrypt step is replaced here by a compare function the test holds (it
 * answers only when released), so "bcrypt is busy" and "the queue is full" are states the test
 * reaches and checks, not timings. Plain HTTP on 127.0.0.1, port 0.
 */

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
}

interface Pending {
  readonly reply: Promise<Reply>;
  abort(): void;
}

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials).toString('base64')}`;

function send(port: number, path: string, credentials?: string): Pending {
  let abort = (): void => undefined;
  const reply = new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: credentials === undefined ? {} : { authorization: basic(credentials) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
    abort = () => req.destroy();
  });
  return { reply, abort };
}

const get = (port: number, path: string, credentials?: string): Promise<Reply> => send(port, path, credentials).reply;

/** A compare function that says yes to "right" at once and holds every other password until released. */
function heldCompare(): { compare: CompareFn; calls: string[]; release(ok: boolean): void } {
  const calls: string[] = [];
  const held: Array<(ok: boolean) => void> = [];
  return {
    calls,
    compare: (password) => {
      calls.push(password);
      if (password === 'right') return Promise.resolve(true);
      return new Promise((resolve) => held.push(resolve));
    },
    release: (ok) => {
      for (const resolve of held.splice(0)) resolve(ok);
    },
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The real middleware (as server.ts mounts it) in front of two routes, behind `webConfig`. */
async function serve(webConfig: string, checker?: BasicAuthChecker): Promise<number> {
  const dir = tempDir();
  const logger = pino({ level: 'silent' });
  const path = write(dir, 'web.yml', webConfig);
  const watcher = new WebConfigWatcher(path, await loadWebConfig(path), logger);
  const app = express();
  app.use(webConfigMiddleware(watcher, logger, checker ? { checker } : {}));
  app.get('/metrics', (_req, res) => void res.type('text/plain').send('# HELP up\n'));
  app.get('/-/healthy', (_req, res) => void res.type('text/plain').send('Healthy.\n'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return (server.address() as AddressInfo).port;
}

const USERS = `basic_auth_users:\n  alice: "${hash('right')}"\n`;

describe('basic auth under a flood', () => {
  it('remembered credentials get 200 while bcrypt is stuck and the queue is full; one check more gets 503 + Retry-After at once', async () => {
    const held = heldCompare();
    const checker = new BasicAuthChecker(held.compare, { maxWaiting: 3 });
    const port = await serve(USERS, checker);
    expect((await get(port, '/metrics', 'alice:right')).status).toBe(200);

    // One check running (held), three waiting: the queue is full.
    const flood = ['w0', 'w1', 'w2', 'w3'].map((password) => send(port, '/metrics', `alice:${password}`));
    await waitFor(async () => (checker.busy && checker.waiting === 3 ? true : undefined), 'a full queue');

    const refused = await get(port, '/metrics', 'alice:w4');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(held.calls).not.toContain('w4');

    // Nothing of this waits behind the stuck check.
    expect((await get(port, '/metrics', 'alice:right')).status).toBe(200);
    expect((await get(port, '/-/healthy', 'alice:right')).status).toBe(200);
    // No credentials: refused without a bcrypt run, so not queued either.
    expect((await get(port, '/-/healthy')).status).toBe(401);
    expect(checker.waiting).toBe(3);

    // bcrypt answers: the waiting checks run one by one and get their 401s.
    for (let i = 0; i < 4; i++) {
      await waitFor(async () => (held.calls.length === 2 + i ? true : undefined), `check ${i + 1} running`);
      held.release(false);
    }
    expect((await Promise.all(flood.map((p) => p.reply))).map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(held.calls[0]).toBe('right');
    expect(held.calls.slice(1).sort()).toEqual(['w0', 'w1', 'w2', 'w3']);
  });

  it('a check whose client went away before its turn is dropped: bcrypt never runs for it', async () => {
    const held = heldCompare();
    const checker = new BasicAuthChecker(held.compare);
    const port = await serve(USERS, checker);
    const first = send(port, '/metrics', 'alice:first');
    await waitFor(async () => (checker.busy ? true : undefined), 'the first check running');
    const second = send(port, '/metrics', 'alice:second');
    second.reply.catch(() => undefined);
    await waitFor(async () => (checker.waiting === 1 ? true : undefined), 'the second check waiting');

    second.abort();
    await waitFor(async () => (checker.waiting === 0 ? true : undefined), 'the second check dropped');
    held.release(false);
    expect((await first.reply).status).toBe(401);

    const third = send(port, '/metrics', 'alice:third');
    await waitFor(async () => (held.calls.includes('third') ? true : undefined), 'the third check running');
    held.release(false);
    expect((await third.reply).status).toBe(401);
    expect(held.calls).toEqual(['first', 'third']);
  });

  it('a failing bcrypt check answers 500 and the server keeps serving', async () => {
    let fail = true;
    const checker = new BasicAuthChecker(async (password) => {
      if (fail) throw new Error('the bcrypt worker exited');
      return password === 'right';
    });
    const port = await serve(USERS, checker);
    expect((await get(port, '/metrics', 'alice:right')).status).toBe(500);
    fail = false;
    expect((await get(port, '/metrics', 'alice:right')).status).toBe(200);
    expect((await get(port, '/metrics', 'alice:wrong')).status).toBe(401);
  });

  it('rate_limit: an anonymous flood does not use up the bucket of remembered credentials (real bcrypt worker)', async () => {
    const checker = new BasicAuthChecker();
    cleanups.push(() => checker.close());
    const port = await serve(`rate_limit: { interval: 1h, burst: 2 }\n${USERS}`, checker);
    // Not yet remembered: checked with bcrypt, and counted with everyone else (1 token of 2 left).
    expect((await get(port, '/metrics', 'alice:right')).status).toBe(200);
    const anonymous = [];
    for (const credentials of [undefined, undefined, 'alice:wrong', 'mallory:right', undefined]) anonymous.push((await get(port, '/metrics', credentials)).status);
    expect(anonymous).toEqual([401, 429, 429, 429, 429]);
    // The scraper's remembered credentials have their own bucket, still full, and still limited.
    const scraper = [];
    for (let i = 0; i < 3; i++) scraper.push((await get(port, '/metrics', 'alice:right')).status);
    expect(scraper).toEqual([200, 200, 429]);
  });

  it('without basic_auth_users, rate_limit is one bucket for every request, as in the toolkit', async () => {
    const port = await serve('rate_limit: { interval: 1h, burst: 2 }\n');
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(port, '/metrics', i === 0 ? undefined : 'alice:right')).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});
