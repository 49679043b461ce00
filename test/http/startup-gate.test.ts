import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { ListenError } from '../../src/core/errors.js';
import { listen } from '../../src/http/listen.js';
import { createHttpServer } from '../../src/http/server.js';
import { createMetrics } from '../../src/metrics/registry.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import { buildPlan } from '../../src/runner/plan.js';
import { ResultStore } from '../../src/runner/store.js';
import { silentLogger } from '../helpers/fake-probe.js';

// Issue 14: the server is bound before the plan exists (so that a port in use is reported before
// anything else happens); a request that arrives meanwhile waits for startup, then is answered.

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function gatedServer(ready: Promise<void>): Promise<{ server: Server; url: string }> {
  const plan = buildPlan(await parseConfigText('instances: [ { name: lab } ]', 'test', { env: {} }), parseCloudflareRanges('1.0.0.0/8', 'test'), {});
  const store = new ResultStore();
  const metrics = createMetrics({ store, plan: () => plan });
  const server = createHttpServer({ metrics, store, plan: () => plan, reload: () => Promise.resolve(undefined), runNow: () => Promise.resolve([]), lifecycle: false, logger: silentLogger, ready });
  servers.push(server);
  await listen(server, '127.0.0.1:0');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function deferred(): { promise: Promise<void>; resolve(): void; reject(): void } {
  let resolve = (): void => undefined;
  let reject = (): void => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = () => rej(new Error('startup failed'));
  });
  return { promise, resolve, reject };
}

describe('requests during startup', () => {
  it('wait for startup, then are answered', async () => {
    const startup = deferred();
    const { server, url } = await gatedServer(startup.promise);
    let answeredBeforeReady: boolean | undefined;
    // Runs before the server's own handler: once that handler has had its turn, nothing may have
    // been sent (/-/healthy would answer synchronously without the gate). Then startup completes.
    server.prependListener('request', (_req, res) => {
      setImmediate(() => {
        answeredBeforeReady = res.headersSent;
        startup.resolve();
      });
    });
    const answer = await fetch(`${url}/-/healthy`, { signal: AbortSignal.timeout(10_000) });
    expect(answeredBeforeReady).toBe(false);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('Healthy.\n');
    const metrics = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    expect(await metrics.text()).toContain('gitlab_duo_probe_enabled{gitlab="lab"');
  });

  it('are dropped when startup fails', async () => {
    const startup = deferred();
    const { server, url } = await gatedServer(startup.promise);
    server.prependListener('request', () => setImmediate(() => startup.reject()));
    await expect(fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).rejects.toThrow(TypeError);
  });
});

describe('listen', () => {
  it('a port in use is a ListenError saying so and what to do', async () => {
    const { server } = await gatedServer(Promise.resolve());
    const port = (server.address() as AddressInfo).port;
    const second = createHttpServer({
      metrics: createMetrics({ store: new ResultStore(), plan: () => undefined as never }),
      store: new ResultStore(),
      plan: () => undefined as never,
      reload: () => Promise.resolve(undefined),
      runNow: () => Promise.resolve([]),
      lifecycle: false,
      logger: silentLogger,
    });
    const failure = await listen(second, `127.0.0.1:${port}`).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(ListenError);
    expect(failure).toMatchObject({
      code: 'EADDRINUSE',
      address: `127.0.0.1:${port}`,
      message: `cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE); is another exporter running? use --web.listen-address to pick another address`,
    });
    expect(second.listening).toBe(false);
  });
});
