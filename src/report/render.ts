import type { ProbeReport, Report } from './report.js';

export type ReportFormat = 'text' | 'markdown' | 'json';

export function renderReport(report: Report, format: ReportFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  return format === 'markdown' ? renderMarkdown(report) : renderText(report);
}

const MARK: Record<ProbeReport['status'], string> = { pass: 'PASS', fail: 'FAIL', skipped: 'SKIP', pending: 'WAIT' };

function renderText(report: Report): string {
  const lines = [`GitLab Duo readiness report (gitlab-duo-exporter ${report.exporterVersion}, ${report.generatedAt})`, ''];
  for (const instance of report.instances) {
    lines.push(`${instance.name}${instance.url ? ` (${instance.url})` : ''}: ${instance.ready ? 'READY' : 'NOT READY'}`);
    for (const p of instance.probes) {
      const duration = p.durationSeconds === undefined ? '' : ` ${(p.durationSeconds * 1000).toFixed(0)}ms`;
      const optional = p.required ? '' : ' (optional)';
      lines.push(`  [${MARK[p.status]}] ${p.name.padEnd(22)}${duration}${optional}  ${p.target}`);
      if (p.status === 'fail') lines.push(`         reason: ${p.reason}: ${p.message}`);
      if (p.status === 'skipped') lines.push(`         skipped: ${p.skippedBecause}`);
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

function renderMarkdown(report: Report): string {
  const lines = [`# GitLab Duo readiness report`, '', `gitlab-duo-exporter ${report.exporterVersion}, generated ${report.generatedAt}.`, ''];
  for (const instance of report.instances) {
    lines.push(`## ${instance.name}: ${instance.ready ? 'ready' : 'NOT ready'}`, '');
    if (instance.url) lines.push(`Instance: ${instance.url}`, '');
    lines.push('| probe | result | tested | detail |', '|---|---|---|---|');
    for (const p of instance.probes) {
      const detail = p.status === 'fail' ? `${p.reason}: ${p.message}` : p.status === 'skipped' ? (p.skippedBecause ?? '') : (p.message ?? '');
      lines.push(`| ${p.name}${p.required ? '' : ' (optional)'} | ${MARK[p.status]} | ${escape(p.target)} | ${escape(detail)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

const escape = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
