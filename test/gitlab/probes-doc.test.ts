import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TOKEN_DESCRIPTIONS } from '../../src/gitlab/availability.js';
import { FAILURE_REASONS } from '../../src/core/errors.js';
import { PROBES } from '../../src/probes/index.js';
import { declaredReasons } from '../../src/probes/types.js';

/** docs/probes.md stays true to the catalog: one section per probe, its table as the code says. */

const doc = readFileSync(new URL('../../docs/probes.md', import.meta.url), 'utf8');

function section(name: string): string {
  const start = doc.indexOf(`\n## \`${name}\`\n`);
  if (start < 0) return '';
  const next = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, next < 0 ? undefined : next);
}

function row(text: string, key: string): string | undefined {
  return new RegExp(`^\\| ${key} \\| (.*) \\|$`, 'm').exec(text)?.[1];
}

describe('docs/probes.md', () => {
  it('has a section for every probe, in catalog order, and no other', () => {
    const headings = [...doc.matchAll(/^## `([a-z0-9_]+)`$/gm)].map((m) => m[1]);
    expect(headings).toEqual(PROBES.map((p) => p.name));
  });

  it.each(PROBES.map((p) => [p.name, p] as const))('%s: the summary row and the section table match the definition', (name, probe) => {
    const summary = new RegExp(`^\\| \\[\`${name}\`\\]\\(#${name}\\) \\| (\\w+) \\| .* \\| (\\S+) / (\\S+) \\| (yes|no)`, 'm').exec(doc);
    expect(summary, `summary row of ${name}`).not.toBeNull();
    expect(summary!.slice(1)).toEqual([probe.group, probe.defaultInterval, probe.defaultTimeout, probe.required ? 'yes' : 'no']);

    const text = section(name);
    expect(row(text, 'group')).toBe(probe.group);
    expect(row(text, 'phases')).toBe(probe.phases.length > 0 ? probe.phases.join(', ') : 'none');
    expect(row(text, 'facts')).toBe(probe.facts.map((f) => `\`${f}\``).join(', '));
    expect(row(text, 'reasons'), 'the reasons row: the declared set, timeout and internal included').toBe(declaredReasons(probe).map((r) => `\`${r}\``).join(', '));
    const token = row(text, 'token') ?? '';
    if (probe.token) expect(token).toContain(TOKEN_DESCRIPTIONS[probe.token]);
    else expect(token).toMatch(/^none/);
  });

  it.each(PROBES.map((p) => [p.name, p] as const))('%s: its table of reasons explains only reasons it can fail with', (name, probe) => {
    // The first cell of each row of the "| reason | meaning and fix |" table, e.g. `dns`, `connect`.
    const table = section(name).split('| reason | meaning and fix |')[1]?.split('\n\n')[0] ?? '';
    const named = [...table.matchAll(/^\| ([^|]*) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([a-z0-9_]+)`/g)].map((r) => r[1]!));
    for (const reason of named.filter((r) => (FAILURE_REASONS as readonly string[]).includes(r))) expect(declaredReasons(probe), `${name}: ${reason}`).toContain(reason);
  });
});
