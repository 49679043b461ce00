/**
 * Text-format series lines, written exactly as prom-client's renderer writes them (its escaping,
 * label order and number formatting), so the families we render ourselves and the ones prom-client
 * renders read the same. test/metrics/exposition.test.ts holds the two renderers byte-equal.
 */

export type LabelValue = string | number | undefined;
export type LabelSet = Readonly<Record<string, LabelValue>>;

export function escapeString(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

// Almost no label value needs escaping; one test is cheaper than three replaces per series.
const NEEDS_ESCAPE = /[\\\n"]/;

export function escapeLabelValue(value: LabelValue): LabelValue {
  if (typeof value !== 'string' || !NEEDS_ESCAPE.test(value)) return value;
  return escapeString(value).replace(/"/g, '\\"');
}

export function valueString(value: number): string {
  // Most series are one-hot or boolean gauges: skip the number-to-string conversion for them.
  if (value === 0) return '0';
  if (value === 1) return '1';
  if (Number.isNaN(value)) return 'Nan';
  if (!Number.isFinite(value)) return value < 0 ? '-Inf' : '+Inf';
  return `${value}`;
}

/** `key="value",...` in the label set's own key order. */
export function labelPairs(labels: LabelSet): string {
  let pairs = '';
  for (const key of Object.keys(labels)) pairs += `${pairs ? ',' : ''}${key}="${escapeLabelValue(labels[key])}"`;
  return pairs;
}

/** One series line, without its newline. */
export function seriesLine(name: string, labels: LabelSet, value: number): string {
  const pairs = labelPairs(labels);
  return `${name}${pairs ? `{${pairs}}` : ''} ${valueString(value)}`;
}

/** The two comment lines that open a family. */
export function familyHeader(name: string, help: string, type: string): string {
  const escaped = escapeString(name);
  return `# HELP ${escaped} ${escapeString(help)}\n# TYPE ${escaped} ${type}`;
}
