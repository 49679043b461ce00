import type { InstanceReport, ProbeReport, Report } from './report.js';

export type ReportFormat = 'text' | 'markdown' | 'json';

export function renderReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
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
    for (const p of instance.probes) {
      const duration = p.durationSeconds === undefined ? '' : ` ${ms(p.durationSeconds)}`;
      const optional = p.required || p.status === 'skipped' ? '' : ' (optional)';
      lines.push(`  [${MARK[p.status]}] ${p.name.padEnd(22)}${duration}${optional}  ${p.target}`);
      if (p.status === 'fail') {
        // Indented under the probe, so a failure reads as: what, why in plain words, what to do.
        lines.push(`         reason: ${p.reason}: ${p.explanation ?? ''}`);
        lines.push(`         message: ${p.message ?? ''}`);
        if (p.fix) {
          lines.push(`         fix: ${p.fix.advice}`);
          lines.push(`         see: ${p.fix.docs.path}${p.fix.runbook ? `, ${p.fix.runbook.path}` : ''}`);
        }
      }
      if (p.status === 'skipped') {
        lines.push(`         skipped: ${p.skippedBecause}`);
        if (p.enableWith) lines.push(`         to enable: ${p.enableWith}`);
      }
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

function renderMarkdown(report: Report): string {
  const lines = [
    `# GitLab Duo readiness report`,
    '',
    `GitLab Duo is **${report.ready ? 'ready' : 'NOT ready'}**. gitlab-duo-exporter ${report.exporterVersion}, generated ${report.generatedAt}.`,
    '',
  ];
  for (const instance of report.instances) lines.push(...instanceMarkdown(instance));
  return lines.join('\n');
}

function instanceMarkdown(instance: InstanceReport): string[] {
  const lines = [`## ${instance.name}: ${instance.ready ? 'ready' : 'NOT ready'}`, ''];
  if (instance.url) lines.push(`Instance: ${instance.url}`, '');
  lines.push(`${cell(instance.summary.text)}.`, '');
  lines.push(...environmentLines(instance).map((l) => `- ${inline(l)}`), '');
  lines.push('| probe | result | tested | against | detail |', '|---|---|---|---|---|');
  for (const p of instance.probes) {
    const detail = p.status === 'fail' ? `${p.reason}: ${p.explanation ?? ''}` : p.status === 'skipped' ? (p.skippedBecause ?? '') : (p.message ?? '');
    const duration = p.durationSeconds === undefined ? '' : ` (${ms(p.durationSeconds)})`;
    lines.push(`| ${p.name}${p.required || p.status === 'skipped' ? '' : ' (optional)'} | ${MARK[p.status]}${duration} | ${cell(p.proves)} | ${cell(p.target)} | ${cell(detail)} |`);
  }
  lines.push('');
  const failing = instance.probes.filter((p) => p.status === 'fail');
  if (failing.length > 0) lines.push('### Failures', '');
  for (const p of failing) {
    lines.push(`#### ${p.name}: ${p.reason}`, '', `${p.explanation ?? ''}`, '', `Message: ${inline(p.message ?? '')}`, '');
    if (p.fix) {
      const runbook = p.fix.runbook ? `, runbook [${p.fix.runbook.alert}](${p.fix.runbook.url})` : '';
      lines.push(`**Fix:** ${p.fix.advice} See [${p.fix.docs.path}](${p.fix.docs.url})${runbook}.`, '');
    }
  }
  const skipped = instance.probes.filter((p) => p.status === 'skipped');
  if (skipped.length > 0) {
    lines.push('### Skipped probes', '');
    for (const p of skipped) lines.push(`- **${p.name}**: ${cell(p.skippedBecause ?? '')}.${p.enableWith ? ` To enable: ${cell(p.enableWith)}` : ''}`);
    lines.push('');
  }
  return lines;
}

/** Table cells and our own lines: a pipe or a newline would break the row, `<x>` would vanish as HTML. */
const cell = (text: string): string => text.replace(/[|<>]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
/** Text from GitLab quoted in a paragraph: one line, as code so that markdown in it stays inert. */
const inline = (text: string): string => (text === '' ? '' : `\`${text.replace(/`/g, "'").replace(/\n/g, ' ')}\``);

/** The deployment profile and what was detected, one fact a line. */
function environmentLines(instance: InstanceReport): string[] {
  const e = instance.environment;
  const caps = Object.entries(e.capabilities).map(([name, on]) => `${name}=${on ? 'yes' : 'no'}`);
  const lines = [
    `deployment: ${e.deployment} (${e.deploymentSource}: ${e.deploymentWhy})`,
    `GitLab: ${e.gitlabVersion ?? 'version unknown'}${caps.length > 0 ? `; capabilities: ${caps.join(', ')}` : ''}`,
    `Agent Platform: ${e.agentPlatform}`,
  ];
  for (const problem of e.detectionProblems) lines.push(`not detected: ${problem}`);
  return lines;
}
