import { PHASES, type Phase } from '../core/run.js';
import { probeHistory, type HistoryEntry } from '../report/history.js';
import { DOCS_BASE_URL } from '../report/explain.js';
import { buildReport, type InstanceReport, type ProbeReport } from '../report/report.js';
import { tokenLine } from '../report/tokens.js';
import type { Plan } from '../runner/plan.js';
import type { ResultStore } from '../runner/store.js';
import { visible } from '../text/escape.js';

// Every interpolation goes through `html`, which escapes unless the value is already Html: escaping
// cannot be forgotten for one field.
class Html {
  constructor(readonly text: string) {}
}
type Part = Html | string | number | boolean | undefined | null | readonly Part[];

// Control characters first (visible escapes, text/escape.ts): a bidi override would reorder the page's text.
const escapeHtml = (text: string): string =>
  visible(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function part(value: Part): string {
  if (value === undefined || value === null || value === false || value === true) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(part).join('');
  return escapeHtml(String(value));
}

function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  return new Html(strings.reduce((out, s, i) => out + part(values[i - 1]) + s));
}

const STATE_LABEL: Record<ProbeReport['status'], string> = { pass: 'pass', fail: 'FAIL', skipped: 'skipped', pending: 'pending' };
const PHASE_COLOURS: Record<Phase, string> = {
  dns: '#8250df', connect: '#0969da', proxy_connect: '#1b7c83', tls: '#bf8700', first_byte: '#bc4c00',
  transfer: '#6e7781', upgrade: '#0550ae', welcome: '#4d2d00', grpc: '#953800', api: '#116329',
  // duo_chat's streamed answer: its start and its completion, each shown with its time.
  subscribe: '#57606a', first_chunk: '#cf222e', complete: '#1a7f37',
};

/** `/`: the status page. Server-rendered, no script, no external resource; reloads itself every 30 s. */
export function renderStatusPage(plan: Plan, store: ResultStore, now = new Date()): string {
  const report = buildReport(plan, store, now);
  const history = (instance: string, probe: string): HistoryEntry[] => {
    const planned = plan.probes.find((p) => p.instance.name === instance && p.probe.name === probe);
    return planned ? probeHistory(planned, store) : [];
  };
  const state = report.ready ? 'ready' : 'NOT ready';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GitLab Duo ${state} · gitlab-duo-exporter</title>
<style>${new Html(CSS)}</style></head>
<body>
<header class="banner ${report.ready ? 'ok' : 'bad'}">
<h1>GitLab Duo is <strong>${state}</strong></h1>
${report.instances.map((i) => html`<p>${report.instances.length > 1 ? html`<b>${i.name}</b>: ` : ''}${headline(i)}</p>`)}
<p class="meta">gitlab-duo-exporter ${report.exporterVersion} · as of ${when(report.generatedAt)} · this page reloads every 30 s</p>
</header>
<nav><a href="metrics">/metrics</a> <a href="report.json">/report.json</a> <a href="report.md">/report.md</a>
<span class="sep">docs:</span> <a href="${DOCS_BASE_URL}probes.md">probes</a> <a href="${DOCS_BASE_URL}runbook.md">runbook</a> <a href="${DOCS_BASE_URL}report.md">report schema</a></nav>
<main>${report.instances.map((i) => instanceSection(i, now, (probe) => history(i.name, probe)))}</main>
</body></html>
`.text;
}

/** The instance's state in one line; what blocks readiness links to its row. */
function headline(instance: InstanceReport): Html {
  const s = instance.summary;
  const skipped = s.skipped > 0 ? ` · ${s.skipped} skipped` : '';
  if (instance.ready) {
    const optional = instance.probes.filter((p) => p.status === 'fail').map((p) => p.name);
    const enabled = instance.probes.length - s.skipped;
    return html`${s.passed} of ${enabled} enabled probes pass${optional.length > 0 ? ` · failing but optional: ${optional.join(', ')}` : ''}${skipped}.`;
  }
  const link = (name: string, n: number) => html`${n > 0 ? ', ' : ''}<a href="#${anchor(instance.name, name)}">${name}</a>`;
  const failing = s.blocking.filter((name) => instance.probes.find((p) => p.name === name)?.status === 'fail');
  const waiting = s.blocking.filter((name) => !failing.includes(name));
  // Only where one failure explains another: then the root causes are what to look at first.
  const causes = instance.causes.some((c) => c.affected.length > 0) ? instance.causes : [];
  const cause = (c: InstanceReport['causes'][number], n: number) => html`${n > 0 ? '; ' : ''}<a href="#${anchor(instance.name, c.probe)}">${c.probe}</a>${c.affected.length > 0 ? html` (${c.summary})` : ''}`;
  return html`${failing.length > 0 ? html`Failing: ${failing.map(link)}. ` : ''}${causes.length > 0 ? html`Root cause${causes.length > 1 ? 's' : ''}: ${causes.map(cause)}. ` : ''}${waiting.length > 0 ? html`Not run yet: ${waiting.map(link)}. ` : ''}${s.passed} pass${skipped}.`;
}

function instanceSection(instance: InstanceReport, now: Date, history: (probe: string) => HistoryEntry[]): Html {
  const s = instance.summary;
  return html`<section>
<h2>${instance.name} <span class="pill ${instance.ready ? 'pass' : 'fail'}">${instance.ready ? 'ready' : 'NOT ready'}</span></h2>
${instance.url ? html`<p class="url">${instance.url}</p>` : ''}
${environment(instance)}
<p class="counts">${count(s.passed, 'pass', 'pass')} · ${count(s.failed, 'fail', 'failing')} · ${count(s.skipped, 'skipped', 'skipped')} · ${count(s.pending, 'pending', 'pending')}</p>
<table><thead><tr><th>State</th><th>Probe</th><th>Last run</th><th>Duration and phases</th><th>Recent runs (oldest → newest)</th></tr></thead>
${instance.probes.map((p) => probeRows(instance, p, now, history(p.name)))}
</table></section>`;
}

/** The deployment profile the probes follow and what was detected of GitLab. */
function environment(instance: InstanceReport): Html {
  const e = instance.environment;
  const caps = Object.entries(e.capabilities).map(([name, on]) => html`<span class="tag ${on ? 't-pass' : 't-skipped'}">${name}</span> `);
  return html`<p class="small env"><b>Deployment:</b> ${e.deployment} <span class="tag">${e.deploymentSource}</span> ${e.deploymentWhy}<br>
<b>GitLab:</b> ${e.gitlabVersion ?? 'version unknown'}${caps.length > 0 ? html` · <b>capabilities:</b> ${caps}` : ''}<br>
<b>Agent Platform:</b> ${e.agentPlatform}${e.detectionProblems.length > 0 ? html`<br><b>Not detected:</b> ${e.detectionProblems.join('; ')}` : ''}${tokens(instance)}</p>`;
}

/** The exporter's own tokens: when each expires, days left, the scope verdict; never the token. */
function tokens(instance: InstanceReport): Html {
  // Red where an alert would fire: a missing scope, or 14 days or fewer left (GitLabDuoExporterTokenExpiresSoon).
  const flagged = (ok: boolean | undefined, daysLeft: number | undefined) => ok === false || (daysLeft !== undefined && daysLeft < 14);
  const line = (t: InstanceReport['tokens'][number]) => (flagged(t.scopesOk, t.daysLeft) ? html`<span class="t-fail">${tokenLine(t)}</span>` : tokenLine(t));
  return html`${instance.tokens.map((t) => html`<br><b>Exporter token:</b> ${line(t)}`)}`;
}

/** A count, coloured only when there is something to see. */
const count = (n: number, state: ProbeReport['status'], label: string): Html => html`<span class="${n > 0 ? `t-${state}` : 't-skipped'}">${n} ${label}</span>`;

function probeRows(inst: InstanceReport, p: ProbeReport, now: Date, history: HistoryEntry[]): Html {
  const instance = inst.name;
  return html`<tbody id="${anchor(instance, p.name)}" class="${p.status}">
<tr><td><span class="badge ${p.status}">${STATE_LABEL[p.status]}</span></td>
<td><b class="name">${p.name}</b> <span class="tag">${p.group}</span>${p.required ? '' : html` <span class="tag">optional</span>`}
<div class="small">${p.proves}</div><div class="small mono">${p.target}</div>${p.status === 'pass' ? html`<div class="seen">${p.message}</div>${notesOf(p)}` : ''}</td>
<td>${p.lastRun ? html`${ago(now.getTime() - Date.parse(p.lastRun))}<div class="small">${when(p.lastRun)}</div>` : html`<span class="small">never</span>`}<div class="small">${p.schedule}</div>${runNowButton(instance, p)}</td>
<td>${timing(p)}</td>
<td>${marks(history, now)}</td></tr>
${p.status === 'pass' ? '' : html`<tr class="detail"><td></td><td colspan="4">${detail(p, inst)}</td></tr>`}
</tbody>`;
}

/**
 * A form, not a script (the page's CSP allows none): POST /-/probe/<name> for this instance, which
 * runs the probe and sends the browser back here (303). Not for skipped probes.
 */
function runNowButton(instance: string, p: ProbeReport): Html {
  if (p.status === 'skipped') return html``;
  return html`<form method="post" action="/-/probe/${p.name}?gitlab=${encodeURIComponent(instance)}" class="run-now"><button type="submit" title="run this probe now (at most once every 10 s)">Run now</button></form>`;
}

/** Notes beyond the first (which is the message of a passing run). */
function notesOf(p: ProbeReport): Html {
  const extra = (p.notes ?? []).filter((n) => n !== p.message);
  return extra.length > 0 ? html`<ul class="small">${extra.map((n) => html`<li>${n}</li>`)}</ul>` : html``;
}

/** The row under a probe that is not passing: why, and what to do. */
function detail(p: ProbeReport, instance: InstanceReport): Html {
  const notes = notesOf(p);
  const link = (name: string) => html`<a href="#${anchor(instance.name, name)}">${name}</a>`;
  switch (p.status) {
    case 'fail': {
      // An explained failure names its root cause, whose fix it shows; a root names what it breaks.
      const root = p.rootCause;
      const explains = instance.causes.find((c) => c.probe === p.name)?.affected ?? [];
      return html`${root ? html`<p class="cause">caused by ${link(root.probe)}${root.via.length > 0 ? html` (through ${root.via.map((v, i) => html`${i > 0 ? ', ' : ''}${link(v)}`)})` : ''}: ${root.summary}</p>` : ''}
${explains.length > 0 ? html`<p class="cause">root cause of ${explains.map((a, i) => html`${i > 0 ? ', ' : ''}${link(a.probe)}`)}</p>` : ''}
<p><b>Why:</b> ${p.explanation} <code>${p.reason}</code></p>
<p><b>Message:</b> <span class="mono">${p.message}</span></p>${notes}
${p.fix ? html`<p class="fix"><b>Fix${root ? ` (${root.probe})` : ''}:</b> ${p.fix.advice}<br><a href="${p.fix.docs.url}">${p.fix.docs.path}</a>${p.fix.runbook ? html` · runbook: <a href="${p.fix.runbook.url}">${p.fix.runbook.alert}</a>` : ''}</p>` : ''}`;
    }
    case 'skipped':
      return html`<p><b>Skipped:</b> ${p.skippedBecause}.</p>${p.enableWith ? html`<p class="enable"><b>To enable:</b> ${p.enableWith}</p>` : ''}`;
    case 'pending':
      return html`<p class="small">Waiting for the first run (${p.schedule}, timeout ${p.timeoutSeconds} s).</p>`;
    case 'pass':
      return html``;
  }
}

function timing(p: ProbeReport): Html {
  if (p.durationSeconds === undefined) return html`<span class="small">timeout ${p.timeoutSeconds} s</span>`;
  const total = p.durationSeconds;
  const phases = PHASES.map((name) => [name, p.phases?.[name] ?? 0] as const).filter(([, s]) => s > 0);
  const bar = phases.map(([name, s]) => {
    const width = total > 0 ? Math.max(1, Math.min(100, (s / total) * 100)) : 0;
    return html`<span style="width:${width.toFixed(1)}%;background:${PHASE_COLOURS[name]}" title="${name} ${duration(s)}"></span>`;
  });
  const legend = phases.map(([name, s]) => html`<span><i style="background:${PHASE_COLOURS[name]}"></i>${name} ${duration(s)}</span>`);
  return html`<b>${duration(total)}</b> <span class="small">of ${p.timeoutSeconds} s</span>
${phases.length > 0 ? html`<div class="bar">${bar}</div><div class="legend">${legend}</div>` : ''}`;
}

function marks(history: HistoryEntry[], now: Date): Html {
  if (history.length === 0) return html`<span class="small">no runs yet</span>`;
  const kept = history.filter((h) => h.preserved);
  const recent = history.filter((h) => !h.preserved);
  const mark = (h: HistoryEntry) =>
    html`<span class="m ${h.success ? 'pass' : 'fail'}${h.preserved ? ' kept' : ''}" title="${clock(h.at)} ${h.success ? 'pass' : `FAIL ${h.reason ?? ''}`} ${duration(h.durationSeconds)}"></span>`;
  const first = history[0]!;
  const last = history[history.length - 1]!;
  return html`<div class="marks">${kept.map(mark)}${kept.length > 0 ? html`<span class="gap" title="older failures kept">⋯</span>` : ''}${recent.map(mark)}</div>
<div class="small">${clock(first.at)} → ${clock(last.at)} (${ago(now.getTime() - Date.parse(last.at))})${kept.length > 0 ? html` · <span class="keptnote">${kept.length} earlier ${kept.length === 1 ? 'failure' : 'failures'} kept</span>` : ''}</div>
<details><summary>${history.length} ${history.length === 1 ? 'run' : 'runs'}</summary><ul class="runs">${[...history].reverse().map((h) => html`<li class="t-${h.success ? 'pass' : 'fail'}">${clock(h.at)} ${h.success ? 'pass' : html`<b>FAIL</b> ${h.reason}`} ${duration(h.durationSeconds)}${h.preserved ? html` <i>(kept)</i>` : ''}${h.success ? '' : html`<div class="mono">${h.message}</div>`}</li>`)}</ul></details>`;
}

const anchor = (instance: string, probe: string): string => `${instance}-${probe}`.replace(/[^A-Za-z0-9_-]/g, '-');

function duration(seconds: number): string {
  if (seconds >= 1) return `${seconds.toFixed(2)} s`;
  const msValue = seconds * 1000;
  return `${msValue >= 10 ? msValue.toFixed(0) : msValue.toFixed(1)} ms`;
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** Absolute time in UTC, the zone of the logs and Prometheus; the machine-readable form in datetime. */
const when = (iso: string): Html => html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
const clock = (iso: string): string => iso.slice(11, 19);

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header,nav,main{padding:0 1.5rem}
.banner{padding:1rem 1.5rem;border-bottom:4px solid}.banner.ok{background:#dafbe1;border-color:#1a7f37}.banner.bad{background:#ffebe9;border-color:#cf222e}
h1{margin:0 0 .3rem;font-size:1.6rem}.banner.ok strong{color:#1a7f37}.banner.bad strong{color:#cf222e}.banner p{margin:.2rem 0}
.meta,.small{color:#59636e;font-size:12px}nav{padding:.6rem 1.5rem;background:#fff;border-bottom:1px solid #d1d9e0}nav a{margin-right:.8rem}.sep{color:#59636e;margin-right:.3rem}
a{color:#0969da}h2{margin:1.4rem 0 .2rem}.url{margin:0;font-family:ui-monospace,monospace;color:#59636e}.counts{margin:.3rem 0 .8rem}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d1d9e0}th{text-align:left;font-size:12px;color:#59636e;background:#f6f8fa;padding:.4rem .6rem;border-bottom:1px solid #d1d9e0}
td{padding:.45rem .6rem;vertical-align:top}tbody{border-top:1px solid #d1d9e0}tr.detail td{padding-top:0}tr.detail p{margin:.15rem 0}
tbody.fail{background:#fff5f5}tbody.skipped,tbody.pending{background:#fafbfc}.name{font-size:15px}.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-word}
.tag{font-size:11px;color:#59636e;border:1px solid #d1d9e0;border-radius:8px;padding:0 .4rem}
.badge,.pill{display:inline-block;border-radius:10px;padding:.05rem .55rem;font-weight:600;font-size:12px;color:#fff}
.badge.pass,.pill.pass{background:#1a7f37}.badge.fail,.pill.fail{background:#cf222e}.badge.skipped{background:#818b98}.badge.pending{background:#9a6700}
.t-pass{color:#1a7f37}.t-fail{color:#cf222e}.t-skipped{color:#59636e}.t-pending{color:#9a6700}time{white-space:nowrap}
.seen{margin-top:.3rem;font-size:12px;color:#1a7f37}.cause{font-weight:600;color:#cf222e}.fix{background:#fff8c5;border-left:3px solid #d4a72c;padding:.3rem .5rem}.enable{background:#ddf4ff;border-left:3px solid #54aeff;padding:.3rem .5rem}
.bar{display:flex;width:160px;height:8px;background:#eaeef2;border-radius:2px;overflow:hidden;margin:.25rem 0}.bar span{display:block;height:100%}
.legend{font-size:11px;color:#59636e;max-width:220px}.legend span{margin-right:.5rem;white-space:nowrap}.legend i{display:inline-block;width:8px;height:8px;margin-right:2px}
.marks{display:flex;gap:2px;align-items:center;flex-wrap:wrap}.m{display:inline-block;width:7px;height:18px;border-radius:2px}.m.pass{background:#2da44e}.m.fail{background:#cf222e}
.m.kept{opacity:.55;outline:1px dashed #cf222e;outline-offset:1px}.gap{color:#59636e;padding:0 2px}.keptnote{color:#cf222e}
details{font-size:12px}summary{cursor:pointer;color:#0969da}ul.runs{margin:.2rem 0;padding-left:0;list-style:none;max-width:420px}
`;
