import type { Report } from '../report/report.js';

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A plain landing page: overall state, each probe's last result, links to the machine endpoints. */
export function renderLanding(report: Report): string {
  const sections = report.instances.map((instance) => {
    const rows = instance.probes
      .map((p) => {
        const detail = p.status === 'fail' ? `${p.reason}: ${p.message}` : p.status === 'skipped' ? p.skippedBecause : p.message;
        return `<tr class="${p.status}"><td>${escapeHtml(p.name)}</td><td>${p.status}</td><td>${escapeHtml(p.target)}</td><td>${escapeHtml(detail ?? '')}</td><td>${p.lastRun ?? ''}</td></tr>`;
      })
      .join('\n');
    return `<h2>${escapeHtml(instance.name)}: ${instance.ready ? 'ready' : 'NOT ready'}</h2>
<table><thead><tr><th>probe</th><th>state</th><th>target</th><th>detail</th><th>last run</th></tr></thead><tbody>
${rows}
</tbody></table>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>gitlab-duo-exporter</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
tr.fail td:nth-child(2){color:#b00020;font-weight:bold}tr.pass td:nth-child(2){color:#1b5e20}tr.skipped,tr.pending{color:#666}</style></head>
<body><h1>gitlab-duo-exporter ${escapeHtml(report.exporterVersion)}</h1>
<p>GitLab Duo is <strong>${report.ready ? 'ready' : 'NOT ready'}</strong> (as of ${report.generatedAt}).</p>
<p><a href="metrics">/metrics</a> · <a href="report.json">report.json</a> · <a href="report.md">report.md</a> · <a href="-/healthy">/-/healthy</a></p>
${sections.join('\n')}
</body></html>
`;
}
