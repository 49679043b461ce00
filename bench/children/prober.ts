/**
 * Our prober, alone in its own process so that its CPU time (read by the parent from /proc) is
 * the probes' and nothing else's: the targets, blackbox_exporter and the bookkeeping live
 * elsewhere. It runs the real probe code path, runProbe() on a plan built from YAML config.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { pino } from 'pino';
import { parseConfigText } from '../../src/config/load.js';
import { loadCloudflareRanges } from '../../src/net/cloudflare.js';
import { buildPlan, type PlannedProbe } from '../../src/runner/plan.js';
import { runProbe } from '../../src/runner/run-probe.js';
import { serveRequests, sleep } from '../lib/proc.js';

const logger = pino({ level: 'silent' });
const planned = new Map<string, PlannedProbe>();

function find(key: unknown): PlannedProbe {
  const probe = planned.get(String(key));
  if (!probe) throw new Error(`no planned probe ${String(key)}; have ${[...planned.keys()].join(', ')}`);
  return probe;
}

const runOnce = (p: PlannedProbe) => runProbe({ probe: p.probe, instance: p.instance, settings: p.settings, net: p.net, logger });

const contexts = new Map<string, SecureContext>();

/**
 * The floor: the least a Node client can do to take the same measurements (a socket, TLS with a
 * prepared context, the request written by hand, the first byte read) with no HTTP client, no
 * runner and no probe. What our probes measure above this is ours; below it, the runtime's.
 */
async function floorRun(url: URL, caFile: string): Promise<Record<string, number>> {
  let context = contexts.get(caFile);
  if (!context) contexts.set(caFile, (context = createSecureContext({ ca: readFileSync(caFile, 'utf8') })));
  const start = performance.now();
  const socket = netConnect({ host: url.hostname, port: Number(url.port) });
  await once(socket, 'connect');
  const connected = performance.now();
  const tls = tlsConnect({ socket, host: url.hostname, secureContext: context, ALPNProtocols: ['http/1.1'] });
  await once(tls, 'secureConnect');
  // As in src/net/connect.ts: one loop turn so the client's Finished leaves before we go on.
  await new Promise((resolve) => setImmediate(resolve));
  const secured = performance.now();
  const firstByte = once(tls, 'data');
  tls.write(`HEAD / HTTP/1.1\r\nHost: ${url.host}\r\nUser-Agent: floor\r\n\r\n`);
  await firstByte;
  const answered = performance.now();
  tls.destroy();
  return { connect: connected - start, tls: secured - connected, first_byte: answered - secured };
}

serveRequests({
  async floor({ url, caFile }) {
    return { success: true, phasesMs: await floorRun(new URL(String(url)), String(caFile)) };
  },

  async configure({ yaml }) {
    // An empty environment: a proxy variable of the shell must not reroute the probes.
    const config = await parseConfigText(String(yaml), 'bench', { env: {} });
    planned.clear();
    for (const p of buildPlan(config, loadCloudflareRanges(), {}).probes) planned.set(`${p.instance.name}/${p.probe.name}`, p);
    return [...planned.keys()];
  },

  async run({ key }) {
    const result = await runOnce(find(key));
    const phasesMs = Object.fromEntries(Object.entries(result.phases).map(([phase, seconds]) => [phase, (seconds ?? 0) * 1000]));
    return { success: result.success, reason: result.reason, message: result.message, phasesMs, durationMs: result.durationSeconds * 1000 };
  },

  /** `count` runs started at a fixed rate (not back to back), at most `maxInFlight` at once. */
  async load({ key, count, ratePerSec, maxInFlight }) {
    const p = find(key);
    return paced(Number(count), Number(ratePerSec), Number(maxInFlight ?? 32), async () => {
      const r = await runOnce(p);
      return r.success ? undefined : `${r.reason}: ${r.message}`;
    });
  },

  /** The same as `load`, with floorRun (the bare Node client) instead of a probe run. */
  async floorLoad({ url, caFile, count, ratePerSec, maxInFlight }) {
    const target = new URL(String(url));
    return paced(Number(count), Number(ratePerSec), Number(maxInFlight ?? 32), () =>
      floorRun(target, String(caFile)).then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err.message : String(err)),
      ),
    );
  },
});

/** Starts `total` runs at `ratePerSec`, skipping a start when `limit` are in flight. A run resolves to its failure, if any. */
async function paced(total: number, ratePerSec: number, limit: number, run: () => Promise<string | undefined>) {
  const periodMs = 1000 / ratePerSec;
  let inFlight = 0;
  let failures = 0;
  let skipped = 0;
  let firstFailure: string | undefined;
  const running: Promise<void>[] = [];
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    const wait = start + i * periodMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (inFlight >= limit) {
      skipped++;
      continue;
    }
    inFlight++;
    running.push(
      run().then((failure) => {
        inFlight--;
        if (failure !== undefined) {
          failures++;
          firstFailure ??= failure;
        }
      }),
    );
  }
  await Promise.all(running);
  return { runs: total - skipped, failures, skipped, firstFailure, elapsedMs: Date.now() - start };
}
