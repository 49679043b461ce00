import { SCENARIOS } from './scenarios.js';

function cell(value: string): string {
  return value.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * The scenario table of docs/simulator.md, rendered from SCENARIOS; a test checks that the doc
 * holds exactly this text, so the doc cannot drift from the code.
 */
export function renderScenarioTable(): string {
  const rows = SCENARIOS.map((s) => {
    const affects = s.affects.length === 0 ? 'none' : s.affects.map((p) => `\`${p}\``).join(', ');
    const byRelease = Object.entries(s.affectedWhere ?? {}).map(([probe, rule]) => ` \`${probe}\` fails only where GitLab shows it: ${rule!.why}.`);
    return `| \`${s.name}\` | ${cell(s.description)} | ${affects} | ${cell(s.why + byRelease.join(''))} |`;
  });
  return ['| scenario | what it simulates | exporter probes that fail | why |', '|---|---|---|---|', ...rows].join('\n');
}
