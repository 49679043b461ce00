import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layering of src/, read from the code's own imports (type imports included: they couple as
 * much). Each file belongs to one layer; it may import its own layer and those below, never one
 * above, and no import may close a circle. docs/architecture.md draws the same layers.
 *
 * TypeScript's own preProcessFile lists a file's imports (static, dynamic, re-exports); a
 * dependency-cruiser configuration would say the same in more code than this.
 */

const SRC = resolve(import.meta.dirname, '../../src');

/** Bottom to top; the first matching pattern names a file's layer. */
const LAYERS: readonly { readonly name: string; readonly files: RegExp }[] = [
  { name: 'text', files: /^text\// },
  { name: 'core', files: /^core\// },
  { name: 'net', files: /^net\// },
  { name: 'config', files: /^config\// },
  { name: 'gitlab', files: /^gitlab\// },
  { name: 'probe kit', files: /^probes\/(shared\/|types\.ts$)/ },
  { name: 'probes', files: /^probes\/(?!index\.ts$)[^/]+\.ts$/ },
  { name: 'catalog', files: /^probes\/index\.ts$/ },
  { name: 'runner', files: /^runner\// },
  { name: 'metrics and reports', files: /^(metrics|report)\// },
  { name: 'http', files: /^http\// },
  { name: 'simulator', files: /^simulator\// },
  { name: 'application', files: /^[^/]+\.ts$/ },
];

/** The simulator is a fake GitLab: it stands on its own (text and core only), whatever its place above. */
const STANDALONE: Readonly<Record<string, readonly string[]>> = { simulator: ['text', 'core', 'simulator'] };

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** file (relative to src) → the src files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const imported = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((i) => i.fileName);
    const local = imported.filter((name) => name.startsWith('.')).map((name) => relative(SRC, resolve(dirname(file), name.replace(/\.js$/, '.ts'))));
    graph.set(relative(SRC, file), local);
  }
  return graph;
}

const layerOf = (file: string): number => LAYERS.findIndex((l) => l.files.test(file));

/** Strongly connected components of more than one file (Tarjan), each sorted: the import circles. */
function circles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, counter);
    low.set(file, counter++);
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(file, Math.min(low.get(file)!, index.get(next)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || (graph.get(file) ?? []).includes(file)) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

describe('the layers of src/', () => {
  const graph = importGraph();

  it('every file belongs to a layer', () => {
    expect([...graph.keys()].filter((file) => layerOf(file) < 0)).toEqual([]);
    expect(graph.size).toBeGreaterThan(100);
  });

  it('no import circle', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('no file imports a layer above its own, and the simulator stands alone', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const own = LAYERS[layerOf(file)]!.name;
      for (const target of imports) {
        const theirs = LAYERS[layerOf(target)]?.name ?? '(outside src)';
        const allowed = STANDALONE[own] ? STANDALONE[own].includes(theirs) : layerOf(target) >= 0 && layerOf(target) <= layerOf(file);
        if (!allowed) wrong.push(`${file} (${own}) imports ${target} (${theirs})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('finds a circle and an upward import when there is one (the checks can fail)', () => {
    const made = new Map<string, string[]>([
      ['net/a.ts', ['config/b.ts']],
      ['config/b.ts', ['net/a.ts']],
    ]);
    expect(circles(made)).toEqual([['config/b.ts', 'net/a.ts']]);
    expect(layerOf('net/a.ts')).toBeLessThan(layerOf('config/b.ts'));
  });
});
