import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectProxyRow, WORKHORSE_UPGRADE_REQUIRED, type ProxyRow } from './expect.js';
import { startBackend, type Backend } from './helpers.js';
import { startNginx, type NginxOptions } from './nginx.js';

/**
 * websocket_cable and instance_http2 through Debian's nginx in front of the simulated GitLab:
 * the configuration in docs/probes.md passes both, and each of the two usual mistakes (no
 * `http2` on `listen`, no Upgrade/Connection headers) fails exactly the probe that covers it.
 * A missing nginx fails every row with the package to install; nothing is skipped.
 */

let backend: Backend | undefined;

beforeAll(async () => {
  backend = await startBackend();
});

afterAll(async () => {
  await backend?.sim.close();
});

describe('through Debian nginx', () => {
  it.each<ProxyRow<NginxOptions>>([
    {
      name: 'listen ssl http2 + Upgrade/Connection headers → both pass',
      config: { http2: true, upgradeHeaders: true },
      cable: { reason: undefined, status: 101 },
      http2: { reason: undefined, version: 2 },
    },
    {
      // nginx drops the hop-by-hop Upgrade/Connection unless told to set them: Workhorse sees a plain GET.
      name: 'without the Upgrade/Connection headers → websocket_upgrade',
      config: { http2: true, upgradeHeaders: false },
      cable: {
        reason: 'websocket_upgrade',
        status: 400,
        message: /^400 websocket upgrade required — a proxy in front strips Upgrade\/Connection headers$/,
        refusalBody: WORKHORSE_UPGRADE_REQUIRED,
      },
      http2: { reason: undefined, version: 2 },
    },
    {
      name: 'without http2 on listen → http2_not_negotiated',
      config: { http2: false, upgradeHeaders: true },
      cable: { reason: undefined, status: 101 },
      http2: { reason: 'http2_not_negotiated', version: 1.1, message: /chose ALPN http\/1\.1 when offered h2,http\/1\.1: .*downgrades to HTTP\/1\.1/ },
    },
  ])('$name', async (row) => {
    expect(backend, 'the simulator did not start').toBeDefined();
    const proxy = await startNginx(backend!, row.config);
    await expectProxyRow(row, backend!, proxy);
  });
});
