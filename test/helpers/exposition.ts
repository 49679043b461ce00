import type { Registry } from 'prom-client';
import { expect } from 'vitest';

/** Reading what /metrics serves: samples of the Prometheus text format, from text or a registry. */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Samples of the Prometheus text format (enough of it for our own output). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return samples;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Every sample of `name` whose labels include `labels`, from exposition text or a registry. */
export async function findSamples(source: string | Registry, name: string, labels: Readonly<Record<string, string>> = {}): Promise<Sample[]> {
  let all: Sample[];
  if (typeof source === 'string') {
    all = parseExposition(source).filter((s) => s.name === name);
  } else {
    const metric = source.getSingleMetric(name);
    if (!metric) return [];
    const got = await metric.get();
    all = got.values
      .filter((v) => ((v as { metricName?: string }).metricName ?? name) === name)
      .map((v) => ({ name, labels: Object.fromEntries(Object.entries(v.labels).map(([k, l]) => [k, String(l)])), value: v.value }));
  }
  return all.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** Exactly one sample of `name` matches `labels`, and its value is `value`. */
export async function expectSample(source: string | Registry, name: string, labels: Readonly<Record<string, string>>, value: number): Promise<void> {
  const found = await findSamples(source, name, labels);
  expect(found, `${name}${JSON.stringify(labels)}: expected exactly one sample`).toHaveLength(1);
  expect(found[0]!.value, `${name}${JSON.stringify(labels)}`).toBe(value);
}

/** No sample of `name` matches `labels`. */
export async function expectNoSample(source: string | Registry, name: string, labels: Readonly<Record<string, string>> = {}): Promise<void> {
  expect(await findSamples(source, name, labels), `${name}${JSON.stringify(labels)}: expected no sample`).toEqual([]);
}
