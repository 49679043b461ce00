import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runAccuracy } from './accuracy.js';
import { runCost } from './cost.js';
import { runDetection } from './detection.js';
import type { BenchContext } from './lib/context.js';
import { describeMachine } from './lib/machine.js';
import { REPO_DIR } from './lib/paths.js';
import { createBenchPki } from './lib/pki.js';
import { renderDocument } from './document.js';
import { renderTables, type BenchResults } from './report.js';
import { runScale } from './scale.js';
import { runMemory } from './memory.js';
import { runScrape } from './scrape.js';

const SECTIONS = ['accuracy', 'cost', 'scrape', 'scale', 'detection', 'memory'] as const;
type Section = (typeof SECTIONS)[number];

const RESULTS_FILE = join(REPO_DIR, 'test-output', 'bench-results.json');
const DOCUMENT = join(REPO_DIR, 'docs', 'performance.md');

const USAGE = `usage: npm run bench [-- --quick] [-- --only=${SECTIONS.join(',')}] [-- --render]
  --quick    fewer samples and shorter windows (a few minutes); prints, never writes the docs
  --only=    run these sections only; prints, never writes the docs
  --render   rewrite docs/performance.md from the last full run's ${RESULTS_FILE.replace(REPO_DIR, '')}`;

/**
 * Runs the sections in order (each bounded in count and time), prints the tables, keeps the raw
 * figures in test-output/bench-results.json and, after a full run of every section, rewrites
 * docs/performance.md with the commit and machine they were measured on.
 */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  if (argv.includes('--render')) {
    const saved = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as BenchResults;
    writeFileSync(DOCUMENT, renderDocument(saved));
    console.log(`wrote ${DOCUMENT} from ${RESULTS_FILE}`);
    return 0;
  }
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const unknown = only?.filter((s) => !(SECTIONS as readonly string[]).includes(s)) ?? [];
  if (unknown.length > 0) {
    console.error(`unknown section(s) ${unknown.join(', ')}\n${USAGE}`);
    return 2;
  }
  const wanted = (s: Section): boolean => !only || only.includes(s);
  const started = Date.now();
  const pki = await createBenchPki();
  const ctx: BenchContext = { quick, pki, log: (m) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`) };
  const results: { -readonly [K in keyof BenchResults]: BenchResults[K] } = { machine: describeMachine(), quick, durationSeconds: 0 };
  try {
    if (wanted('accuracy')) {
      ctx.log('1/6 accuracy');
      results.accuracy = await runAccuracy(ctx);
      results.blackboxVersion = results.accuracy.blackboxVersion;
    }
    if (wanted('cost')) {
      ctx.log('2/6 cost per probe run');
      results.cost = await runCost(ctx);
    }
    if (wanted('scrape')) {
      ctx.log('3/6 scrape cost');
      results.scrape = await runScrape(ctx);
    }
    if (wanted('scale')) {
      ctx.log('4/6 scale');
      results.scale = await runScale(ctx);
    }
    if (wanted('detection')) {
      ctx.log(`5/6 detection${quick ? '' : ' (waits for the alert to fire: about 6 minutes)'}`);
      results.detection = await runDetection(ctx);
    }
    if (wanted('memory')) {
      ctx.log('6/6 memory of the real serve');
      results.memory = await runMemory(ctx);
    }
  } finally {
    pki.cleanup();
  }
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  console.log(renderTables(results));
  mkdirSync(join(REPO_DIR, 'test-output'), { recursive: true });
  const complete = !quick && !only;
  writeFileSync(complete ? RESULTS_FILE : RESULTS_FILE.replace(/\.json$/, '-partial.json'), `${JSON.stringify(results, null, 1)}\n`);
  if (complete) {
    writeFileSync(DOCUMENT, renderDocument(results));
    console.error(`[bench] wrote ${DOCUMENT}`);
  } else {
    console.error('[bench] --quick or --only: docs/performance.md left as it is');
  }
  ctx.log(`done in ${results.durationSeconds} s`);
  return 0;
}
