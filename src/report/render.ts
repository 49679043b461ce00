import { escapeJsonText, visible } from '../text/escape.js';
import { codeSpan, markdownText as md } from '../text/markdown.js';
import type { CauseReport, InstanceReport, ProbeReport, Report, RootCauseReport } from './report.js';
import { tokenLine } from './tokens.js';

export type ReportFormat = 'text' | 'markdown' | 'json';

/**
 * The report as text, Markdown or JSON. Every text that came from outside is already scrubbed and
 * shown with visible escapes (redact.ts); the renderers escape again at the boundary, so a field
 * added later cannot print a control character: the text and Markdown lines go through `visible`,
 * the JSON through `escapeJsonText`. In Markdown, server and config text sits in code spans.
 */
export function renderReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return `${escapeJsonText(JSON.stringify(report, null, 2))}\n`;
  return format === 'markdown' ? renderMarkdown(report) : renderText(report);
}

const MARK: Record<ProbeReport['status'], string> = { pass: 'PASS', fail: 'FAIL', skipped: 'SKIP', pending: 'WAIT' };

const ms = (seconds: number): string => `${(seconds * 1000).toFixed(0)}ms`;

function renderText(report: Report): string {
  const lines = [`GitLab Duo readiness report (gitlab-duo-exporter ${report.exporterVersion}, ${report.generatedAt})`, ''];
  for (const instance of report.instances) {
    lines.push(`${instance.name}${instance.url ? ` (${instance.url})` : ''}: ${instance.ready ? 'READY' : 'NOT READY'}`);
    lines.push(`  ${instance.summary.text}`);
    lines.push(...environmentLines(instance).map((l) => `  ${l}`), '');
    // Root causes first, each once with its fix: eight probes failing for one cause are one entry.
    if (instance.causes.length > 0) {
      lines.push(`  ${instance.causes.length === 1 ? 'Root cause' : `Root causes (${instance.causes.length})`}:`);
      for (const c of instance.causes) lines.push(...causeLines(c, instance));
      lines.push('');
    }
    for (const p of instance.probes) {
      const duration = p.durationSeconds === undefined ? '' : ` ${ms(p.durationSeconds)}`;
      const optional = p.required || p.status === 'skipped' ? '' : ' (optional)';
      lines.push(`  [${MARK[p.status]}] ${p.name.padEnd(22)}${duration}${optional}  ${p.target}`);
      if (p.status === 'fail') {
        // The detail is under its root cause above; here only how this failure relates to it.
        lines.push(p.rootCause ? `         ${p.reason}, caused by ${describeRoot(p.rootCause)}` : `         ${p.reason}: a root cause, see above`);
      }
      if (p.status === 'skipped') {
        lines.push(`         skipped: ${p.skippedBecause}`);
        if (p.enableWith) lines.push(`         to enable: ${p.enableWith}`);
      }
    }
    lines.push('');
  }
  // One report line per array item: a newline inside a field is shown as \n, never a line of its own.
  return lines.map(visible).join('\n');
}

/** One root cause in the text report: what, why in plain words, what it breaks, what to do. */
function causeLines(c: CauseReport, instance: InstanceReport): string[] {
  const root = instance.probes.find((p) => p.name === c.probe);
  const lines = [`  * ${c.probe}: ${c.reason}${c.affected.length > 0 ? `: ${c.summary}` : ''}`];
  lines.push(`      reason: ${c.reason}: ${root?.explanation ?? ''}`);
  lines.push(`      message: ${c.message}`);
  if (c.affected.length > 0) lines.push(`      also failing because of it (${c.affected.length}): ${affectedList(c)}`);
  lines.push(`      fix: ${c.fix.advice}`);
  lines.push(`      see: ${c.fix.docs.path}${c.fix.runbook ? `, ${c.fix.runbook.path}` : ''}`);
  return lines;
}

const affectedList = (c: CauseReport): string => c.affected.map((a) => `${a.probe} (${a.reason})`).join(', ');

/** `instance_settings: Silent Mode is on`, or `instance_settings (through health_check): ...`. */
const describeRoot = (root: RootCauseReport): string => `${root.probe}${root.via.length > 0 ? ` (through ${root.via.join(', ')})` : ''}: ${root.summary}`;

function renderMarkdown(report: Report): string {
  const lines = [
    `# GitLab Duo readiness report`,
    '',
    `GitLab Duo is **${report.ready ? 'ready' : 'NOT ready'}**. gitlab-duo-exporter ${md(report.exporterVersion)}, generated ${md(report.generatedAt)}.`,
    '',
  ];
  for (const instance of report.instances) lines.push(...instanceMarkdown(instance));
  return lines.map(visible).join('\n');
}

function instanceMarkdown(instance: InstanceReport): string[] {
  const lines = [`## ${md(instance.name)}: ${instance.ready ? 'ready' : 'NOT ready'}`, ''];
  if (instance.url) lines.push(`Instance: ${codeSpan(instance.url)}`, '');
  lines.push(`${md(instance.summary.text)}.`, '');
  lines.push(...environmentLines(instance).map((l) => `- ${codeSpan(l)}`), '');
  lines.push('| probe | result | tested | against | detail |', '|---|---|---|---|---|');
  for (const p of instance.probes) {
    // Ours: the reason and its explanation, why a probe is skipped. A probe's message: what the server said.
    const failed = p.rootCause ? `${p.reason}: caused by ${describeRoot(p.rootCause)}` : `${p.reason}: ${p.explanation ?? ''}`;
    const detail = p.status === 'fail' ? md(failed) : p.status === 'skipped' ? md(p.skippedBecause ?? '') : cell(p.message ?? '');
    const duration = p.durationSeconds === undefined ? '' : ` (${ms(p.durationSeconds)})`;
    lines.push(`| ${md(p.name)}${p.required || p.status === 'skipped' ? '' : ' (optional)'} | ${MARK[p.status]}${duration} | ${md(p.proves)} | ${cell(p.target)} | ${detail} |`);
  }
  lines.push('');
  // One section per root cause, with the failures it explains: not one per failing probe.
  if (instance.causes.length > 0) lines.push('### Root causes', '');
  for (const c of instance.causes) {
    const root = instance.probes.find((p) => p.name === c.probe);
    lines.push(`#### ${md(c.probe)}: ${md(c.reason)}`, '');
    if (c.affected.length > 0) lines.push(`**${md(c.summary)}.** Also failing because of it: ${md(affectedList(c))}.`, '');
    lines.push(md(root?.explanation ?? ''), '', `Message: ${codeSpan(c.message)}`, '');
    // Our own advice and links (explain.ts, fixes.ts): no server text in them.
    const runbook = c.fix.runbook ? `, runbook [${md(c.fix.runbook.alert)}](${c.fix.runbook.url})` : '';
    lines.push(`**Fix:** ${md(c.fix.advice)} See [${md(c.fix.docs.path)}](${c.fix.docs.url})${runbook}.`, '');
  }
  const skipped = instance.probes.filter((p) => p.status === 'skipped');
  if (skipped.length > 0) {
    lines.push('### Skipped probes', '');
    for (const p of skipped) lines.push(`- **${md(p.name)}**: ${md(p.skippedBecause ?? '')}.${p.enableWith ? ` To enable: ${md(p.enableWith)}` : ''}`);
    lines.push('');
  }
  return lines;
}

/** Server or config text in a table cell: a code span, its pipes escaped so that the row holds. */
const cell = (text: string): string => codeSpan(text, { inTable: true });

/** The deployment profile, what was detected and the exporter's tokens, one fact a line. */
function environmentLines(instance: InstanceReport): string[] {
  const e = instance.environment;
  const caps = Object.entries(e.capabilities).map(([name, on]) => `${name}=${on ? 'yes' : 'no'}`);
  const lines = [
    `deployment: ${e.deployment} (${e.deploymentSource}: ${e.deploymentWhy})`,
    `GitLab: ${e.gitlabVersion ?? 'version unknown'}${caps.length > 0 ? `; capabilities: ${caps.join(', ')}` : ''}`,
    `Agent Platform: ${e.agentPlatform}`,
  ];
  for (const problem of e.detectionProblems) lines.push(`not detected: ${problem}`);
  // The exporter's own tokens: expiry and scopes, never the token.
  for (const token of instance.tokens) lines.push(`exporter token ${tokenLine(token)}`);
  return lines;
}
