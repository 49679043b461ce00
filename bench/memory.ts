import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from './lib/context.js';
import { markdownTable } from './lib/table.js';
import { fleetYaml, startSimulatorChild } from './lib/fleet.js';
import { httpText } from './lib/http.js';
import { REPO_DIR } from './lib/paths.js';
import { freePort, rssBytes, sleep, waitFor } from './lib/proc.js';
import { mb, median } from './lib/stats.js';

/**
 * 6. Memory of the real `serve`: the installed launcher (bin/gitlab-duo-exporter.js, the compiled
 * dist/, the CLI's own imports), one instance of the simulator in the hybrid deployment so that
 * every probe of the catalog is enabled, measured after each enabled probe has run once. Then what
 * each chosen dependency costs when Node loads it, alone and as the last one on top of the others.
 */

/** The libraries `serve` loads (package.json dependencies the exporter imports outside the simulator). */
export const SERVE_DEPENDENCIES = ['express', 'ws', 'prom-client', 'pino', 'zod', 'yaml', 'node-cron', 'commander', 'ipaddr.js', 'protobufjs'] as const;

/** Libraries `serve` loaded before and no longer does, measured the same way to show what they cost. */
export const REPLACED_DEPENDENCIES = ['undici'] as const;

export interface ServeMemory {
  /** RSS once every enabled probe has run and the process then sat idle for IDLE_SECONDS. */
  readonly idle: number;
  /** RSS right after the last first run. */
  readonly afterRuns: number;
  /** The highest RSS seen from start to the end of the idle window. */
  readonly peak: number;
  readonly enabledProbes: number;
  readonly secondsToAllRuns: number;
}

export interface DependencyCost {
  readonly name: string;
  /** No longer loaded by `serve` (REPLACED_DEPENDENCIES): `last` is then what it would add on top of the others. */
  readonly replaced: boolean;
  /** RSS of `node` importing only this library, minus a bare `node`. */
  readonly alone: number;
  /** RSS importing every SERVE_DEPENDENCIES entry, minus importing all but this one (for a replaced one: all plus it, minus all). */
  readonly last: number;
}

export interface MemoryResult {
  readonly starts: ServeMemory[];
  readonly idleSeconds: number;
  readonly bareNode: number;
  readonly allDependencies: number;
  readonly dependencies: DependencyCost[];
}

/**
 * Long enough for V8's memory reducer, which runs once allocation has been quiet for a while and
 * gives back the young generation the start-up grew; what a process costs between its runs.
 */
const IDLE_SECONDS = 30;

export async function runMemory(ctx: BenchContext): Promise<MemoryResult> {
  const startCount = ctx.quick ? 2 : 5;
  const sim = await startSimulatorChild(ctx.pki.dir, undefined, { deployment: 'hybrid' });
  const dir = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  const starts: ServeMemory[] = [];
  try {
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, fleetYaml(sim.instance, 1), { mode: 0o600 });
    for (let i = 0; i < startCount; i++) {
      const measured = await measureServe(configFile);
      starts.push(measured);
      ctx.log(`memory: start ${i + 1}/${startCount}: ${mb(measured.idle)} MB idle, ${measured.enabledProbes} probes`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await sim.stop();
  }
  const samples = ctx.quick ? 3 : 5;
  const bareNode = await importRss([], samples);
  const allDependencies = await importRss(SERVE_DEPENDENCIES, samples);
  const dependencies: DependencyCost[] = [];
  for (const name of SERVE_DEPENDENCIES) {
    const alone = (await importRss([name], samples)) - bareNode;
    const last = allDependencies - (await importRss(SERVE_DEPENDENCIES.filter((d) => d !== name), samples));
    dependencies.push({ name, replaced: false, alone, last });
  }
  for (const name of REPLACED_DEPENDENCIES) {
    const alone = (await importRss([name], samples)) - bareNode;
    const last = (await importRss([...SERVE_DEPENDENCIES, name], samples)) - allDependencies;
    dependencies.push({ name, replaced: true, alone, last });
  }
  return { starts, idleSeconds: IDLE_SECONDS, bareNode, allDependencies, dependencies };
}

/** One start of the real CLI: until every enabled probe ran, then IDLE_SECONDS of nothing. */
async function measureServe(configFile: string): Promise<ServeMemory> {
  const port = await freePort();
  const started = Date.now();
  const child = spawn(process.execPath, [join(REPO_DIR, 'bin', 'gitlab-duo-exporter.js'), `--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=error'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const pid = child.pid!;
  let peak = 0;
  const track = (): number => {
    const rss = rssBytes(pid);
    peak = Math.max(peak, rss);
    return rss;
  };
  const tracker = setInterval(track, 250);
  try {
    const enabledProbes = await waitFor('every enabled probe to run once', async () => {
      const body = await httpText(`http://127.0.0.1:${port}/metrics`).then((r) => r.body, () => '');
      const enabled = count(body, /^gitlab_duo_probe_enabled\{[^}]*\} 1$/gm);
      const ran = count(body, /^gitlab_duo_probe_last_run_timestamp_seconds\{[^}]*\} [1-9]/gm);
      return enabled > 0 && ran >= enabled ? enabled : undefined;
    }, 120_000, 250);
    const secondsToAllRuns = (Date.now() - started) / 1000;
    const afterRuns = track();
    await sleep(IDLE_SECONDS * 1000);
    return { idle: track(), afterRuns, peak, enabledProbes, secondsToAllRuns };
  } finally {
    clearInterval(tracker);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

const count = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

/** Median RSS of a fresh `node` that imports `modules` (from this repository), collects garbage and idles a moment. */
async function importRss(modules: readonly string[], samples: number): Promise<number> {
  const script = `for (const m of ${JSON.stringify(modules)}) await import(m);
await new Promise((r) => setTimeout(r, 300)); gc(); await new Promise((r) => setTimeout(r, 200));
process.stdout.write(String(process.memoryUsage().rss));`;
  const values: number[] = [];
  for (let i = 0; i < samples; i++) values.push(Number(await nodeOutput(['--expose-gc', '--input-type=module', '-e', script])));
  return median(values);
}

function nodeOutput(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`node ${args.join(' ')} exited ${code}`));
    });
  });
}

export const MEMORY_HEADER = ['start', 'enabled probes', 'first runs done s', 'RSS after first runs MB', `RSS idle (+${IDLE_SECONDS} s) MB`, 'RSS peak MB'];

export function memoryRows(r: MemoryResult): string[][] {
  const rows = r.starts.map((s, i) => [String(i + 1), String(s.enabledProbes), s.secondsToAllRuns.toFixed(1), mb(s.afterRuns), mb(s.idle), mb(s.peak)]);
  rows.push(['median', '', '', mb(median(r.starts.map((s) => s.afterRuns))), mb(median(r.starts.map((s) => s.idle))), mb(median(r.starts.map((s) => s.peak)))]);
  return rows;
}

export const DEPENDENCY_HEADER = ['library', 'alone: RSS over bare node MB', 'last: RSS over all the others MB'];

export function dependencyRows(r: MemoryResult): string[][] {
  return [
    ['(bare node)', mb(r.bareNode), ''],
    ...r.dependencies.filter((d) => !d.replaced).map((d) => [d.name, mb(d.alone), mb(d.last)]),
    ['(all of them)', mb(r.allDependencies - r.bareNode), ''],
    ...r.dependencies.filter((d) => d.replaced).map((d) => [`${d.name} (no longer loaded)`, mb(d.alone), mb(d.last)]),
  ];
}

/** Section 6 of docs/performance.md. */
export function memorySection(m: MemoryResult): string[] {
  return [
    '## 6. Memory of the real serve',
    '',
    'The installed launcher (`bin/gitlab-duo-exporter.js`, the compiled `dist/`, every import of the CLI) with one instance of',
    'the simulator in its hybrid deployment, so that every probe of the catalog is enabled, started ' + String(m.starts.length) + ' times. RSS is',
    `read once every enabled probe has run, then after ${m.idleSeconds} s more: long enough for V8's memory reducer, which gives back the`,
    'young generation the start-up grew once allocation has been quiet for a while; the probes still run on their default',
    'intervals meanwhile. Peak is the highest RSS sampled every 250 ms from the start.',
    '',
    markdownTable(MEMORY_HEADER, memoryRows(m)),
    '',
    'What each library the exporter loads costs: RSS of a fresh `node` that imports it alone, over a bare `node`, and RSS with',
    'every library of the list over the same list without it (what it adds on top of the others; smaller, as they share',
    'what Node loads for the first of them). A library the exporter no longer loads is measured on top of all the others.',
    'Medians of a few processes each; a few MB of noise.',
    '',
    markdownTable(DEPENDENCY_HEADER, dependencyRows(m)),
    '',
  ];
}
