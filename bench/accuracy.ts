import { stringify } from 'yaml';
import { BLACKBOX_PHASE_OF, startBlackbox, type Blackbox } from './lib/blackbox.js';
import type { BenchContext } from './lib/context.js';
import { startChild, type BenchChild } from './lib/proc.js';
import { median, ms, p99, ratio } from './lib/stats.js';
import { startInstrumentedServer, startRelay, type ConnectionRecord, type InstrumentedServer, type Relay } from './lib/targets.js';

/**
 * 1. Accuracy. Four loopback targets inject a known delay into one phase each and timestamp every
 * phase boundary on their side; our probes and blackbox_exporter probe the same targets,
 * alternating run by run, and each reported phase is compared with the server-side truth.
 */

type Tool = 'ours' | 'blackbox' | 'floor';
type TargetName = 'tcp_relay' | 'tls_handshake' | 'https_first_byte' | 'ws_welcome';

interface TargetSpec {
  readonly name: TargetName;
  readonly label: string;
  /** The phase the injected delay lands in. */
  readonly delayed: string;
  /** Phases compared on this target. */
  readonly phases: readonly string[];
}

const TARGETS: readonly TargetSpec[] = [
  { name: 'tcp_relay', label: 'TCP relay delays its onward connect', delayed: 'tls', phases: ['connect', 'tls', 'first_byte'] },
  { name: 'tls_handshake', label: 'TLS server delays its handshake', delayed: 'tls', phases: ['connect', 'tls', 'first_byte'] },
  { name: 'https_first_byte', label: 'HTTPS server delays its first byte', delayed: 'first_byte', phases: ['connect', 'tls', 'first_byte', 'transfer'] },
  { name: 'ws_welcome', label: 'WebSocket server delays the welcome', delayed: 'welcome', phases: ['connect', 'tls', 'upgrade', 'welcome'] },
];

const FLOOR_PHASES = ['connect', 'tls', 'first_byte'];

/** Injected delays, cycled run by run, so errors are seen at several sizes. */
const DELAYS_MS = [2, 10, 30];

export interface PhaseErrors {
  readonly target: TargetName | 'all';
  readonly phase: string;
  readonly ours: number[];
  readonly blackbox: number[];
  /** The bare Node client of children/prober.ts (connect, tls, first_byte of the HTTPS targets). */
  readonly floor: number[];
}

export interface AccuracyResult {
  readonly runsPerTool: number;
  readonly discarded: number;
  readonly failures: Record<Tool, number>;
  readonly blackboxVersion: string;
  /** Signed errors (measured − truth, ms) per target and phase, and pooled per phase. */
  readonly errors: PhaseErrors[];
}

interface Targets {
  readonly backend: InstrumentedServer;
  readonly relay: Relay;
  readonly tls: InstrumentedServer;
  readonly https: InstrumentedServer;
  readonly ws: InstrumentedServer;
}

export async function runAccuracy(ctx: BenchContext): Promise<AccuracyResult> {
  const runs = ctx.quick ? 24 : 150;
  const warmup = ctx.quick ? 3 : 10;
  const cert = ctx.pki.leaf;
  const backend = await startInstrumentedServer(cert);
  const targets: Targets = {
    backend,
    relay: await startRelay(backend.port),
    tls: await startInstrumentedServer(cert),
    https: await startInstrumentedServer(cert),
    ws: await startInstrumentedServer(cert),
  };
  const urls: Record<TargetName, string> = {
    tcp_relay: `https://127.0.0.1:${targets.relay.port}`,
    tls_handshake: `https://127.0.0.1:${targets.tls.port}`,
    https_first_byte: `https://127.0.0.1:${targets.https.port}`,
    ws_welcome: `https://127.0.0.1:${targets.ws.port}`,
  };
  const ca = { ca_file: ctx.pki.caFile };
  const caFile = ctx.pki.caFile;
  const yaml = stringify({
    instances: [
      ...(['tcp_relay', 'tls_handshake', 'https_first_byte'] as const).map((name) => ({ name, tls: ca, endpoints: { customers_portal: urls[name] } })),
      { name: 'ws_welcome', url: urls.ws_welcome, tls: ca },
    ],
  });
  const prober = startChild('prober');
  const blackbox = await startBlackbox(ctx.pki.dir, ctx.pki.caFile, urls.ws_welcome);
  const errors = new Map<string, PhaseErrors>();
  const failures: Record<Tool, number> = { ours: 0, blackbox: 0, floor: 0 };
  let discarded = 0;
  try {
    await prober.request('configure', { yaml });
    for (let i = -warmup; i < runs; i++) {
      for (const spec of TARGETS) {
        const delay = DELAYS_MS[(i + DELAYS_MS.length * warmup) % DELAYS_MS.length]!;
        setDelay(targets, spec.name, delay);
        // Alternate which tool goes first, so neither always follows the other's teardown.
        const order: Tool[] = i % 2 === 0 ? ['ours', 'blackbox'] : ['blackbox', 'ours'];
        if (spec.name !== 'ws_welcome') order.push('floor');
        for (const tool of order) {
          const sample = await probeOnce(tool, spec, targets, urls[spec.name], prober, blackbox, caFile);
          if (i < 0) continue;
          if (!sample) {
            discarded++;
            continue;
          }
          if (!sample.success) {
            failures[tool]++;
            continue;
          }
          for (const phase of spec.phases) {
            if (tool === 'floor' && !FLOOR_PHASES.includes(phase)) continue;
            const measured = sample.measured[phase];
            const truth = sample.truth[phase];
            if (measured === undefined || truth === undefined) continue;
            for (const key of [`${spec.name}/${phase}`, `all/${phase}`]) {
              let entry = errors.get(key);
              if (!entry) errors.set(key, (entry = { target: key.split('/')[0] as TargetName | 'all', phase, ours: [], blackbox: [], floor: [] }));
              entry[tool].push(measured - truth);
            }
          }
        }
      }
      if (i > 0 && i % 50 === 0) ctx.log(`accuracy: ${i}/${runs} rounds`);
    }
  } finally {
    await prober.stop();
    await blackbox.stop();
    for (const t of [targets.relay, targets.backend, targets.tls, targets.https, targets.ws]) await t.close();
  }
  return { runsPerTool: runs, discarded, failures, blackboxVersion: blackbox.version, errors: [...errors.values()] };
}

function setDelay(targets: Targets, name: TargetName, delay: number): void {
  targets.relay.delayMs = name === 'tcp_relay' ? delay : 0;
  targets.tls.delays.handshakeMs = name === 'tls_handshake' ? delay : 0;
  targets.https.delays.firstByteMs = name === 'https_first_byte' ? delay : 0;
  targets.ws.delays.welcomeMs = name === 'ws_welcome' ? delay : 0;
}

interface Sample {
  readonly success: boolean;
  readonly measured: Record<string, number>;
  readonly truth: Record<string, number>;
}

async function probeOnce(tool: Tool, spec: TargetSpec, targets: Targets, url: string, prober: BenchChild, blackbox: Blackbox, caFile: string): Promise<Sample | undefined> {
  const server = spec.name === 'tcp_relay' ? targets.backend : spec.name === 'tls_handshake' ? targets.tls : spec.name === 'https_first_byte' ? targets.https : targets.ws;
  const before = server.records.length;
  const relayBefore = targets.relay.records.length;
  let success: boolean;
  let measured: Record<string, number>;
  if (tool === 'floor') {
    const r = await prober.request<{ success: boolean; phasesMs: Record<string, number> }>('floor', { url, caFile });
    success = r.success;
    measured = r.phasesMs;
  } else if (tool === 'ours') {
    const key = `${spec.name}/${spec.name === 'ws_welcome' ? 'websocket_cable' : 'customers_portal'}`;
    const r = await prober.request<{ success: boolean; phasesMs: Record<string, number> }>('run', { key });
    success = r.success;
    measured = r.phasesMs;
  } else {
    const r = await blackbox.probe(spec.name === 'ws_welcome' ? `${url}/-/cable` : `${url}/`, spec.name === 'ws_welcome' ? 'cable_upgrade' : 'https_head');
    success = r.success;
    measured = Object.fromEntries(spec.phases.map((phase) => [phase, r.phasesMs[BLACKBOX_PHASE_OF[phase] ?? phase] ?? Number.NaN]));
  }
  const fresh = server.records.slice(before);
  // One run, one connection: anything else (a retry, a stray connection) cannot be attributed.
  if (fresh.length !== 1) return undefined;
  const relayed = spec.name === 'tcp_relay' ? targets.relay.records.slice(relayBefore) : undefined;
  if (relayed && relayed.length !== 1) return undefined;
  const truth = truthOf(fresh[0]!, relayed?.[0]?.hello);
  return { success, measured, truth };
}

/** The server-side truth of one connection, per phase (ms). */
function truthOf(record: ConnectionRecord, relayHello: number | undefined): Record<string, number> {
  const truth: Record<string, number> = {
    // No program can delay or observe the TCP handshake on loopback; it takes the kernel ~0.03 ms.
    connect: 0,
  };
  const hello = relayHello ?? record.hello;
  if (hello !== undefined && record.secure !== undefined) truth.tls = record.secure - hello;
  if (record.secure !== undefined && record.head !== undefined) {
    truth.first_byte = record.head - record.secure;
    truth.upgrade = record.head - record.secure;
  }
  if (record.head !== undefined && record.end !== undefined) truth.transfer = record.end - record.head;
  if (record.head !== undefined && record.welcome !== undefined) truth.welcome = record.welcome - record.head;
  return truth;
}

// ---------------------------------------------------------------------------------------------

const abs = (values: number[]): number[] => values.map(Math.abs);

export function accuracyRows(result: AccuracyResult): string[][] {
  const rows: string[][] = [];
  const order = ['connect', 'tls', 'first_byte', 'transfer', 'upgrade', 'welcome'];
  const sorted = [...result.errors].sort((a, b) => (a.target === b.target ? order.indexOf(a.phase) - order.indexOf(b.phase) : a.target === 'all' ? -1 : b.target === 'all' ? 1 : 0));
  for (const e of sorted) {
    const [oursAbs, bbAbs] = [abs(e.ours), abs(e.blackbox)];
    rows.push([
      e.target === 'all' ? '**all targets**' : e.target,
      e.phase,
      `${BLACKBOX_PHASE_OF[e.phase] ?? e.phase}`,
      String(e.ours.length),
      ms(median(oursAbs)),
      ms(p99(oursAbs)),
      ms(median(e.ours)),
      ms(median(bbAbs)),
      ms(p99(bbAbs)),
      ms(median(e.blackbox)),
      ratio(median(oursAbs), median(bbAbs)),
      ratio(p99(oursAbs), p99(bbAbs)),
      e.floor.length ? ms(median(abs(e.floor))) : 'n/a',
    ]);
  }
  return rows;
}

export const ACCURACY_HEADER = [
  'target',
  'phase (ours)',
  'blackbox phase',
  'runs',
  'ours median abs err ms',
  'ours p99 abs err ms',
  'ours bias ms',
  'bb median abs err ms',
  'bb p99 abs err ms',
  'bb bias ms',
  'median ratio',
  'p99 ratio',
  'Node floor median abs err ms',
];
