import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApache, type ApacheOptions } from './apache.js';
import { expectProxyRow, WORKHORSE_UPGRADE_REQUIRED, type ProxyRow } from './expect.js';
import { startBackend, type Backend } from './helpers.js';

/**
 * websocket_cable and instance_http2 through Debian's Apache httpd (mod_ssl, mod_proxy_http,
 * mod_proxy_wstunnel, mod_rewrite, mod_http2) in front of the simulated GitLab: GitLab's
 * WebSocket rewrite rules with `Protocols h2 http/1.1` pass both; without the rules, or without
 * `Protocols h2`, exactly the probe that covers it fails. A missing apache2 fails every row with
 * the package to install; nothing is skipped.
 */

let backend: Backend | undefined;

beforeAll(async () => {
  backend = await startBackend();
});

afterAll(async () => {
  await backend?.sim.close();
});

describe('through Debian apache2', () => {
  it.each<ProxyRow<ApacheOptions>>([
    {
      name: 'WebSocket rewrite rules + Protocols h2 → both pass',
      config: { http2: true, websocketRules: true },
      cable: { reason: undefined, status: 101 },
      http2: { reason: undefined, version: 2 },
    },
    {
      // A plain `ProxyPass / https://…` does not upgrade: mod_proxy_http drops Upgrade/Connection
      // and forwards a plain GET, which Workhorse refuses with its own 400 (Apache adds no error).
      name: 'without the WebSocket rules → websocket_upgrade',
      config: { http2: true, websocketRules: false },
      cable: {
        reason: 'websocket_upgrade',
        status: 400,
        message: /^400 websocket upgrade required — a proxy in front strips Upgrade\/Connection headers$/,
        refusalBody: WORKHORSE_UPGRADE_REQUIRED,
      },
      http2: { reason: undefined, version: 2 },
    },
    {
      name: 'without Protocols h2 → http2_not_negotiated',
      config: { http2: false, websocketRules: true },
      cable: { reason: undefined, status: 101 },
      http2: { reason: 'http2_not_negotiated', version: 1.1, message: /chose ALPN http\/1\.1 when offered h2,http\/1\.1: .*downgrades to HTTP\/1\.1/ },
    },
  ])('$name', async (row) => {
    expect(backend, 'the simulator did not start').toBeDefined();
    const proxy = await startApache(backend!, row.config);
    await expectProxyRow(row, backend!, proxy);
  });
});
