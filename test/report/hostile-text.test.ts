import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { stringify } from 'yaml';
import { startApp, type App } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import type { LogFormat } from '../../src/config/schema.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import { resolveEnvironment } from '../../src/gitlab/deployment.js';
import { parseVersion } from '../../src/gitlab/version.js';
import { renderStatusPage } from '../../src/http/status-page.js';
import { createLogger } from '../../src/log.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { renderReport } from '../../src/report/render.js';
import { codeSpan, markdownText } from '../../src/text/markdown.js';
import { buildReport } from '../../src/report/report.js';
import type { Plan } from '../../src/runner/plan.js';
import { ResultStore } from '../../src/runner/store.js';
import { HOST, json, pki, startFakeGitLab, type FakeReply, type FakeRequest } from '../helpers/fake-gitlab.js';
import { result, testPlan } from './helpers.js';
import { codeSpanContents, HOSTILE, outsideCodeSpans, tableCells, unsafeAt } from './hostile.js';

/**
 * Issue 12, defects 6 and 8: text a probed server controls (GitLab's error messages and licence
 * fields, a grpc-message) reaches every output. Control characters must come out as visible
 * escapes (no forged line, no terminal escape, no reordered text), and in report.md server text
 * must sit in code spans, never live Markdown (an image beacon in a licence plan name).
 */

const NOW = new Date('2026-05-01T10:00:05Z');

/** testPlan() with GitLab's detection problems (text from GitLab's answers) set to `problem` for `lab`. */
async function planWithProblem(problem: string): Promise<Plan> {
  // Awaited: the config loader may read files asynchronously.
  const plan = await testPlan();
  const lab = plan.config.instances.find((i) => i.name === 'lab')!;
  const caps: Capabilities = { detectedAt: 0, version: parseVersion('18.9.0-ee'), fields: undefined, settings: undefined, problems: [problem] };
  return { ...plan, environments: new Map([...plan.environments, ['lab', resolveEnvironment(lab, caps)]]) };
}

function storeWith(message: string): ResultStore {
  const store = new ResultStore();
  store.record(result('lab', 'duo_workflow_service', { reason: 'grpc', message, notes: [message] }));
  store.record(result('lab', 'license', { message, notes: [message, `second ${message}`] }));
  store.record(result('lab', 'instance_settings', { reason: 'requirement_not_met', message }));
  return store;
}

const renderAll = async (message: string) => {
  const plan = await planWithProblem(message);
  const store = storeWith(message);
  const report = buildReport(plan, store, NOW);
  return { report, text: renderReport(report, 'text'), markdown: renderReport(report, 'markdown'), json: renderReport(report, 'json'), page: renderStatusPage(plan, store, NOW) };
};

describe('control characters from servers, in the reports', () => {
  let hostile: Awaited<ReturnType<typeof renderAll>>;
  let benign: Awaited<ReturnType<typeof renderAll>>;
  beforeAll(async () => {
    [hostile, benign] = await Promise.all([renderAll(HOSTILE), renderAll('plain words')]);
  });

  it('text, Markdown, JSON and the status page carry no raw control, bidi or line-separator character', () => {
    for (const [format, output] of Object.entries({ text: hostile.text, markdown: hostile.markdown, json: hostile.json, page: hostile.page })) {
      expect(unsafeAt(output), format).toBeUndefined();
    }
  });

  it('a newline in server text forges no line: every format keeps the line structure of a benign report', () => {
    expect(hostile.text.split('\n')).toHaveLength(benign.text.split('\n').length);
    expect(hostile.markdown.split('\n')).toHaveLength(benign.markdown.split('\n').length);
    for (const output of [hostile.text, hostile.markdown]) expect(output).not.toMatch(/^\s*level=error/m);
  });

  it('shows what was sent, as visible escapes', () => {
    const shown = String.raw`boom\nlevel=error msg="forged line"\r\u001b[2J\u001b]8;;http://evil.invalid/\u0007click\u001b]8;;\u0007 \u009b31mred \u202eevil\u202c \u2066iso\u2069 a\u2028b\u0085c\u007fd\u0000e\tf`;
    expect(hostile.text).toContain(`message: ${shown}`);
    expect(hostile.text).toContain(`not detected: ${shown}`);
    const lab = hostile.report.instances[0]!;
    expect(lab.probes.find((p) => p.name === 'license')!.message).toBe(shown);
    expect(lab.environment.detectionProblems).toEqual([shown]);
    // report.json: the same visible text (a `jq -r` of it prints no escape sequence either).
    expect(JSON.parse(hostile.json).instances[0].probes.find((p: { name: string }) => p.name === 'license').notes).toEqual([shown, `second ${shown}`]);
    expect(hostile.page).toContain(shown.replace(/"/g, '&quot;'));
  });

  it('Markdown: server text only in code spans, the tables intact', () => {
    const outside = outsideCodeSpans(hostile.markdown);
    expect(outside).not.toContain('evil');
    expect(outside).not.toContain('forged');
    const rows = (md: string) => md.split('\n').filter((l) => l.startsWith('|'));
    expect(rows(hostile.markdown).map((r) => tableCells(r).length)).toEqual(rows(benign.markdown).map((r) => tableCells(r).length));
  });
});

/** Licence plans (GitLab-controlled, shown in a passing probe's message) that try to be Markdown. */
const BEACONS = [
  '![b](https://evil.invalid/beacon)',
  '`` ` ![b](https://evil.invalid/tick) `',
  '``` x ```![b](https://evil.invalid/fence)',
  '` | ![b](https://evil.invalid/pipe) | `',
  '\\| ![b](https://evil.invalid/bs) \\`',
  'a\\\\|![b](https://evil.invalid/bsbs)|\\',
  '<img src="https://evil.invalid/html">',
  '[link](https://evil.invalid/link) https://evil.invalid/auto',
];

describe('report.md: GitLab text is never live Markdown', () => {
  it.each(BEACONS)('a passing licence probe whose message quotes %j', async (plan) => {
    const message = `online_cloud licence (${plan}), last synchronised 2h ago`;
    const { markdown } = await renderAll(message);
    expect(markdown).toContain('evil.invalid');
    expect(outsideCodeSpans(markdown), markdown).not.toContain('evil.invalid');
    // In the table: the license row has its five cells, and the detail cell shows the message as sent.
    const row = markdown.split('\n').find((l) => l.startsWith('| license '))!;
    const cells = tableCells(row);
    expect(cells).toHaveLength(5);
    // (A table cannot show `\|` exactly in a code span: a pipe after k backslashes shows after 2k.)
    expect(codeSpanContents(cells[4]!)).toEqual([message.replace(/(\\*)\|/g, (_, bs: string) => `${bs}${bs}|`)]);
    // In a paragraph (the failure's message): the same, one code span.
    const failure = markdown.split('\n').find((l) => l.startsWith('Message: ') && l.includes('evil.invalid'))!;
    expect(codeSpanContents(failure)).toEqual([message]);
  });
});

describe('codeSpan and markdownText', () => {
  it('fence a code span with a backtick run longer than any inside, padded where CommonMark strips a space', () => {
    expect(codeSpan('a')).toBe('`a`');
    expect(codeSpan('a `b` c')).toBe('``a `b` c``');
    expect(codeSpan('``x``` y')).toBe('```` ``x``` y ````');
    expect(codeSpan('`x')).toBe('`` `x ``');
    expect(codeSpan(' x ')).toBe('`  x  `');
    expect(codeSpan('  ')).toBe('`  `');
    expect(codeSpan('')).toBe('');
    expect(codeSpan('a\nb\u001b')).toBe('`a\\nb\\u001b`');
  });

  it('in a table, a pipe never splits the cell: after k backslashes it is written after 2k+1', () => {
    expect(codeSpan('a|b', { inTable: true })).toBe('`a\\|b`');
    expect(codeSpan('a\\|b', { inTable: true })).toBe('`a\\\\\\|b`');
    for (const text of ['|', '\\|', '\\\\|', 'x\\', '`|`']) expect(tableCells(`| ${codeSpan(text, { inTable: true })} | z |`)).toHaveLength(2);
  });

  it('markdownText escapes what could open a link, an image, HTML or a code span', () => {
    expect(markdownText('![x](https://e.invalid) <b> `c` a|b \\ ok_ok')).toBe('!\\[x\\](https://e.invalid) \\<b\\> \\`c\\` a\\|b \\\\ ok_ok');
    expect(outsideCodeSpans(`x ${markdownText('`')} ${codeSpan('![b](https://evil.invalid)')} ${markdownText('`')}`)).not.toContain('evil');
  });
});

// ------------------------------------------------------------------------------------------------
// End to end: a hostile GitLab, the whole exporter, every output.

/** A GitLab whose licence plan is a Markdown beacon and whose errors carry terminal escapes. */
function hostileGitLab(plan: string) {
  return (req: FakeRequest): FakeReply => {
    if (req.path === '/api/v4/metadata') return json(200, { version: '18.9.0-ee', revision: 'abcdef123456', enterprise: true });
    if (req.path === '/api/v4/application/settings') return json(500, { message: `500 Internal Server Error ${HOSTILE}` });
    if (req.path !== '/api/graphql') return json(404, { message: `404 ${HOSTILE}` });
    const query = String((req.json as { query?: string } | undefined)?.query ?? '');
    if (query.includes('__type')) return json(200, { data: null, errors: [{ message: `introspection refused ${HOSTILE}` }] });
    if (query.includes('currentLicense { type plan')) {
      const currentLicense = { type: 'online_cloud', plan, lastSync: new Date(Date.now() - 3_600_000).toISOString(), expiresAt: '2099-01-01' };
      return json(200, { data: { currentLicense } });
    }
    if (query.includes('currentLicense')) return json(200, { data: { currentLicense: { type: 'online_cloud' } } });
    return json(200, { data: null, errors: [{ message: HOSTILE }] });
  };
}

const RUN = new Set(['license', 'instance_settings', 'version']);

async function exporter(format: LogFormat, gitlabs: readonly { port: number }[], caFile: string): Promise<{ app: App; logs: string[] }> {
  const yaml = stringify({
    instances: gitlabs.map((g, i) => ({
      name: `hostile${i}`,
      url: `https://${HOST}:${g.port}`,
      admin_token: 'sentinel-admin-0123456789abcdef',
      tls: { ca_file: caFile },
      resolve: { [`${HOST}:${g.port}`]: '127.0.0.1' },
    })),
    defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, RUN.has(p) ? { required: true } : { enabled: false }])) },
    web: { listen_address: '127.0.0.1:0' },
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', format, destination });
  const app = await startApp({ config: await parseConfigText(yaml, 'hostile.yaml', { env: {} }), configPath: undefined, logger, env: {}, maxStartJitterMs: 0 });
  onTestFinished(() => app.stop());
  return { app, logs };
}

async function allRan(app: App): Promise<void> {
  const planned = app.plan().probes.filter((p) => p.skippedBecause === undefined);
  const until = Date.now() + 15_000;
  while (planned.some((p) => !app.store.get(p.instance.name, p.probe.name)?.last) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  expect(planned.map((p) => p.probe.name).sort()).toEqual([...RUN, ...RUN].sort());
  expect(planned.every((p) => app.store.get(p.instance.name, p.probe.name)?.last)).toBe(true);
}

const LINE_START: Record<LogFormat, RegExp> = { json: /^\{"level":/, logfmt: /^time=\S+ level=\w+ msg=/, pretty: /^\d{4}-\d\d-\d\dT\S+ [A-Z]+ +\S/ };

describe('a hostile GitLab, through the whole exporter', () => {
  it('logs (debug, every format), /metrics, the status page and the reports: no raw control character, the licence plan inert in report.md', async () => {
    const gitlabs = await Promise.all([BEACONS[0]!, BEACONS[1]!].map((plan) => startFakeGitLab(hostileGitLab(plan))));
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'gde-hostile-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'ca.pem'), (await pki()).ca.certPem);
    const runs = await Promise.all((['json', 'logfmt', 'pretty'] as const).map(async (format) => [format, await exporter(format, gitlabs, join(dir, 'ca.pem'))] as const));
    for (const [format, { app, logs }] of runs) {
      await allRan(app);
      const last = (instance: string, probe: string) => app.store.get(instance, probe)!.last!;
      // The hostile text did reach the probes: the licence passed with its plan, the settings failed quoting the error.
      expect(last('hostile0', 'license').success).toBe(true);
      expect(last('hostile0', 'license').message).toContain('evil.invalid/beacon');
      expect(last('hostile1', 'license').message).toContain('evil.invalid/tick');
      expect(last('hostile0', 'instance_settings').success).toBe(false);
      expect(last('hostile0', 'instance_settings').message).toContain('forged line');

      const outputs: Record<string, string> = { text: renderReport(buildReport(app.plan(), app.store), 'text') };
      for (const path of ['/metrics', '/', '/report.json', '/report.md']) outputs[path] = await (await fetch(`${app.url()}${path}`)).text();
      outputs.logs = logs.join('');
      for (const [where, output] of Object.entries(outputs)) expect(unsafeAt(output), `${format} ${where}`).toBeUndefined();
      expect(outputs.logs).toContain('forged line');
      expect(outputs['/report.md']).toContain('forged line');
      expect(outputs['/report.md']).toContain('evil.invalid');
      expect(outsideCodeSpans(outputs['/report.md']!), outputs['/report.md']).not.toMatch(/evil|forged/);
      // One log record, one line, in the format's shape.
      const lines = outputs.logs.split('\n').filter((l) => l !== '');
      expect(lines.length).toBeGreaterThan(5);
      for (const line of lines) expect(line, `${format}: ${line}`).toMatch(LINE_START[format]);
      if (format === 'json') for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    }
  });
});
