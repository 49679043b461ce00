import { describe, expect, it } from 'vitest';
import { FAILURE_REASONS, type FailureReason } from '../../src/core/errors.js';
import { renderStatusPage } from '../../src/http/status-page.js';
import { FACT_FAMILIES } from '../../src/core/facts.js';
import { findProbe, PROBES } from '../../src/probes/index.js';
import type { Fact } from '../../src/core/run.js';
import { CAUSAL_GRAPH, CONNECTION_REASONS, GITLAB_CHECKS, type CausalEdge, type FailureMatch } from '../../src/report/causes.js';
import { fixAdvice } from '../../src/report/explain.js';
import { renderReport } from '../../src/report/render.js';
import { buildReport, type Report } from '../../src/report/report.js';
import { diagnose, edgeApplies, failingChecks, type Failure } from '../../src/report/root-causes.js';
import { ResultStore } from '../../src/runner/store.js';
import { result, testPlan } from './helpers.js';

const NOW = new Date('2026-05-01T10:00:05Z');
const CLOUD = { deployment: 'cloud' as const, now: NOW };
const fail = (probe: string, reason: FailureReason, facts: Fact[] = []): Failure => ({ probe, reason, facts });
const edge = (id: string): CausalEdge => CAUSAL_GRAPH.find((e) => e.id === id)!;
const SILENT: Fact[] = [{ name: 'gitlab_duo_silent_mode_enabled', value: 1 }];
const check = (name: string, success: number, counted = 1): Fact[] => [
  { name: 'gitlab_duo_health_check_probe_success', labels: { check: name, target: '' }, value: success },
  { name: 'gitlab_duo_health_check_probe_counted', labels: { check: name, target: '' }, value: counted },
];

describe('the causal graph', () => {
  const matches = CAUSAL_GRAPH.flatMap((e) => [{ edge: e, match: e.cause as FailureMatch }, ...e.effects.map((m) => ({ edge: e, match: m as FailureMatch }))]);

  it('names only probes of the catalog, their own facts and real failure reasons', () => {
    for (const { edge: e, match } of matches) {
      const probe = findProbe(match.probe);
      expect(probe, `${e.id}: ${match.probe}`).toBeDefined();
      for (const reason of match.reasons ?? []) expect(FAILURE_REASONS, `${e.id}: ${reason}`).toContain(reason);
      for (const fact of match.facts ?? []) {
        // The fact is one the probe exports, with labels its family has.
        expect(probe!.facts, `${e.id}: ${match.probe} does not export ${fact.name}`).toContain(fact.name);
        for (const label of Object.keys(fact.labels ?? {})) expect(FACT_FAMILIES[fact.name].labels, `${e.id}: ${fact.name}{${label}}`).toContain(label);
      }
    }
    for (const e of CAUSAL_GRAPH) {
      for (const effect of e.effects) {
        expect(effect.probe, `${e.id}: an edge from a probe to itself`).not.toBe(e.cause.probe);
        if (effect.checks) expect(effect.probe, `${e.id}: checks are GitLab's health-check results`).toBe('health_check');
        for (const c of effect.checks ?? []) expect(GITLAB_CHECKS).toContain(c);
      }
      expect(e.why.length, e.id).toBeGreaterThan(20);
      expect(new Set(e.effects.map((x) => x.probe)).size, `${e.id}: an effect listed twice`).toBe(e.effects.length);
    }
    expect(new Set(CAUSAL_GRAPH.map((e) => e.id)).size).toBe(CAUSAL_GRAPH.length);
  });

  it('has no cycle: no failure (probe and reason) explains itself through others', () => {
    // Nodes are probe:reason: an edge applies only with matching reasons, so these are the chains
    // the report can follow.
    const next = new Map<string, Set<string>>();
    for (const e of CAUSAL_GRAPH) {
      for (const causeReason of e.cause.reasons ?? FAILURE_REASONS) {
        for (const effect of e.effects) {
          for (const effectReason of effect.reasons ?? FAILURE_REASONS) {
            if (effect.sameReason && effectReason !== causeReason) continue;
            const from = `${e.cause.probe}:${causeReason}`;
            next.set(from, (next.get(from) ?? new Set()).add(`${effect.probe}:${effectReason}`));
          }
        }
      }
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]): void => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
        return;
      }
      state.set(node, 'visiting');
      for (const n of next.get(node) ?? []) visit(n, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of next.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });

  it('covers every probe that talks to the instance in the unreachable-instance edge', () => {
    const instanceProbes = PROBES.filter((p) => p.group !== 'network' && p.group !== 'node' && p.name !== 'instance_http2').map((p) => p.name);
    expect(edge('instance_unreachable').effects.map((e) => e.probe).sort()).toEqual(instanceProbes.sort());
    expect(edge('instance_unreachable').effects.every((e) => e.sameReason && e.reasons === CONNECTION_REASONS)).toBe(true);
  });
});

describe('an edge applies only when the cause is really upstream', () => {
  it('Silent Mode: only with the fact, and only for the reasons it causes', () => {
    const silentMode = edge('silent_mode');
    const settings = fail('instance_settings', 'requirement_not_met', SILENT);
    expect(edgeApplies(silentMode, settings, fail('code_suggestions', 'http_status'), CLOUD)).toBe(true);
    // A 401 is the token or the seat, not Silent Mode.
    expect(edgeApplies(silentMode, settings, fail('code_suggestions', 'auth'), CLOUD)).toBe(false);
    // instance_settings failing for Duo off (no Silent Mode fact), or refused: not this edge.
    expect(edgeApplies(silentMode, fail('instance_settings', 'requirement_not_met', [{ name: 'gitlab_duo_silent_mode_enabled', value: 0 }]), fail('code_suggestions', 'http_status'), CLOUD)).toBe(false);
    expect(edgeApplies(silentMode, fail('instance_settings', 'forbidden', SILENT), fail('code_suggestions', 'http_status'), CLOUD)).toBe(false);
  });

  it('health_check: only when every counted GitLab check that failed is one the cause breaks', () => {
    const silentMode = edge('silent_mode');
    const settings = fail('instance_settings', 'requirement_not_met', SILENT);
    expect(edgeApplies(silentMode, settings, fail('health_check', 'requirement_not_met', [...check('end_to_end_probe', 0), ...check('host_probe', 1)]), CLOUD)).toBe(true);
    expect(edgeApplies(silentMode, settings, fail('health_check', 'requirement_not_met', [...check('end_to_end_probe', 0), ...check('license_probe', 0)]), CLOUD)).toBe(false);
    // A failure GitLab's check reports but the exporter does not count is not in the way.
    expect(edgeApplies(silentMode, settings, fail('health_check', 'requirement_not_met', [...check('end_to_end_probe', 0), ...check('duo_agent_platform_probe', 0, 0)]), CLOUD)).toBe(true);
    expect(failingChecks([...check('end_to_end_probe', 0), ...check('duo_agent_platform_probe', 0, 0), ...check('host_probe', 1)])).toEqual(['end_to_end_probe']);
  });

  it('an unreachable instance explains the same connection failure of another instance probe, not another reason', () => {
    const unreachable = edge('instance_unreachable');
    const http2 = fail('instance_http2', 'dns');
    expect(edgeApplies(unreachable, http2, fail('license', 'dns'), CLOUD)).toBe(true);
    expect(edgeApplies(unreachable, http2, fail('license', 'connect'), CLOUD)).toBe(false);
    expect(edgeApplies(unreachable, http2, fail('code_suggestions', 'http_status'), CLOUD)).toBe(false);
    // The downgrade is not unreachability, and an outbound probe is another path.
    expect(edgeApplies(unreachable, fail('instance_http2', 'http2_not_negotiated'), fail('license', 'http2_not_negotiated'), CLOUD)).toBe(false);
    expect(edgeApplies(unreachable, http2, fail('customers_portal', 'dns'), CLOUD)).toBe(false);
  });

  it('no GitLab API at the URL: only when version read a 404, a redirect or a 200 page, and only answer failures', () => {
    const noApi = edge('no_gitlab_api');
    const status = (value: number): Fact[] => [{ name: 'gitlab_duo_http_status_code', value }];
    expect(edgeApplies(noApi, fail('version', 'http_status', status(404)), fail('license', 'http_status'), CLOUD)).toBe(true);
    expect(edgeApplies(noApi, fail('version', 'http_status', status(308)), fail('websocket_cable', 'websocket_upgrade'), CLOUD)).toBe(true);
    expect(edgeApplies(noApi, fail('version', 'unexpected_response', status(200)), fail('instance_settings', 'unexpected_response'), CLOUD)).toBe(true);
    // GitLab is there and fails (a 500, a 502 from its proxy): not the URL.
    expect(edgeApplies(noApi, fail('version', 'http_status', status(500)), fail('license', 'http_status'), CLOUD)).toBe(false);
    expect(edgeApplies(noApi, fail('version', 'http_status'), fail('license', 'http_status'), CLOUD)).toBe(false);
    // A token refused, an old GitLab, a network probe: other causes.
    expect(edgeApplies(noApi, fail('version', 'http_status', status(404)), fail('code_suggestions', 'auth'), CLOUD)).toBe(false);
    expect(edgeApplies(noApi, fail('version', 'requirement_not_met', status(200)), fail('license', 'unexpected_response'), CLOUD)).toBe(false);
    expect(edgeApplies(noApi, fail('version', 'http_status', status(404)), fail('customers_portal', 'http_status'), CLOUD)).toBe(false);
    const diagnosis = diagnose([fail('websocket_cable', 'websocket_upgrade'), fail('license', 'http_status'), fail('version', 'http_status', status(404))], CLOUD);
    expect(diagnosis.causes.map((c) => [c.probe, c.affected.length])).toEqual([['version', 2]]);
  });

  it('the self-hosted AI gateway explains completions only where GitLab uses it', () => {
    const gateway = edge('ai_gateway');
    const down = fail('ai_gateway', 'connect');
    expect(edgeApplies(gateway, down, fail('code_suggestions', 'http_status'), CLOUD)).toBe(false);
    expect(edgeApplies(gateway, down, fail('code_suggestions', 'http_status'), { ...CLOUD, deployment: 'self_hosted' })).toBe(true);
  });

  it('follows a chain to its root, and a broken (cyclic) table never loops', () => {
    // The token expired because Silent Mode blocked its renewal: list_tools' root is Silent Mode.
    const diagnosis = diagnose(
      [
        fail('health_check', 'requirement_not_met', [...check('token_probe', 0), { name: 'gitlab_duo_access_token_expiry_timestamp_seconds', value: NOW.getTime() / 1000 - 3600 }]),
        fail('duo_workflow_tools', 'grpc'),
        fail('instance_settings', 'requirement_not_met', SILENT),
      ],
      CLOUD,
    );
    expect(diagnosis.explained.get('duo_workflow_tools')).toEqual({ probe: 'instance_settings', reason: 'requirement_not_met', summary: 'Silent Mode is on', via: ['health_check'] });
    expect(diagnosis.causes.map((c) => c.probe)).toEqual(['instance_settings']);
    const cyclic: CausalEdge[] = [
      { id: 'a', summary: 'a', cause: { probe: 'license' }, effects: [{ probe: 'version' }], paging: 'cause only', why: 'test' },
      { id: 'b', summary: 'b', cause: { probe: 'version' }, effects: [{ probe: 'license' }], paging: 'cause only', why: 'test' },
    ];
    const looped = diagnose([fail('license', 'dns'), fail('version', 'dns')], CLOUD, cyclic);
    expect(looped.causes.map((c) => c.probe).sort()).toEqual(['license', 'version']);
  });
});

describe('the report groups the failures of one cause', () => {
  const DNS_PROBES = ['websocket_cable', 'instance_http2', 'license', 'health_check', 'code_suggestions', 'duo_workflow_tools', 'instance_settings', 'version'];

  async function wrongUrl(): Promise<{ report: Report; store: ResultStore }> {
    const store = new ResultStore();
    for (const probe of DNS_PROBES) store.record(result('lab', probe, { reason: 'dns', message: 'getaddrinfo ENOTFOUND gitlab.example.com' }));
    // Another instance of the same exporter failing the same way is its own cause: instances never mix.
    store.record(result('bare', 'websocket_cable', { reason: 'dns', message: 'getaddrinfo ENOTFOUND gitlab.example.org' }));
    return { report: buildReport(await testPlan(), store, NOW), store };
  }

  it('eight identical DNS failures of one instance are one root cause listing seven others, with its fix on each', async () => {
    const { report } = await wrongUrl();
    const lab = report.instances[0]!;
    expect(lab.causes).toHaveLength(1);
    const fix = fixAdvice('instance_http2', 'dns');
    expect(lab.causes[0]).toEqual({
      probe: 'instance_http2',
      reason: 'dns',
      summary: "GitLab's external URL cannot be reached from the exporter",
      message: 'getaddrinfo ENOTFOUND gitlab.example.com',
      affected: DNS_PROBES.filter((p) => p !== 'instance_http2').map((probe) => ({ probe, reason: 'dns' })),
      fix,
    });
    expect(fix.runbook?.alert).toBe('GitLabDuoInstanceUnreachable');
    for (const p of lab.probes.filter((x) => x.status === 'fail' && x.name !== 'instance_http2')) {
      expect(p.rootCause, p.name).toEqual({ probe: 'instance_http2', reason: 'dns', summary: lab.causes[0]!.summary, via: [] });
      expect(p.fix, p.name).toEqual(fix);
    }
    // bare's failure is not explained by lab's.
    const bare = report.instances[1]!;
    expect(bare.causes.map((c) => c.probe)).toEqual(['websocket_cable']);
    expect(bare.probes.find((p) => p.name === 'websocket_cable')!.rootCause).toBeUndefined();
  });

  it('text and Markdown show it once, with the fix once, leading the probe list', async () => {
    const { report } = await wrongUrl();
    const text = renderReport(report, 'text');
    const lab = text.slice(0, text.indexOf('\nbare'));
    expect(lab.match(/message: getaddrinfo/g)).toHaveLength(1);
    expect(lab.match(/^ {6}fix: /gm)).toHaveLength(1);
    expect(lab).toContain('also failing because of it (7): websocket_cable (dns), license (dns), health_check (dns), code_suggestions (dns), duo_workflow_tools (dns), instance_settings (dns), version (dns)');
    expect(lab.indexOf('Root cause:')).toBeLessThan(lab.indexOf('[FAIL]'));
    expect(lab.match(/dns, caused by instance_http2: GitLab's external URL cannot be reached from the exporter/g)).toHaveLength(7);
    const md = renderReport(report, 'markdown');
    const labMd = md.slice(0, md.indexOf('## bare'));
    expect(labMd.match(/^#### /gm)).toEqual(['#### ']);
    expect(labMd).toContain('#### instance_http2: dns');
    expect(labMd.match(/^Message: /gm)).toHaveLength(1);
    expect(labMd.match(/\*\*Fix:\*\*/g)).toHaveLength(1);
  });

  it('report.json carries the root cause of each failure and the causes of each instance', async () => {
    const { report } = await wrongUrl();
    const json = JSON.parse(renderReport(report, 'json'));
    expect(json.instances[0].causes).toHaveLength(1);
    expect(json.instances[0].probes.find((p: { name: string }) => p.name === 'license').rootCause).toMatchObject({ probe: 'instance_http2', reason: 'dns' });
    // Additive: the existing fields are all still there.
    expect(json.instances[0].probes.find((p: { name: string }) => p.name === 'license')).toMatchObject({ status: 'fail', reason: 'dns', explanation: expect.any(String), message: expect.any(String) });
  });

  it('the status page says "caused by" with a link to the root, and the root what it breaks', async () => {
    const { store } = await wrongUrl();
    const page = renderStatusPage(await testPlan(), store, NOW);
    const row = (probe: string) => page.slice(page.indexOf(`id="lab-${probe}"`), page.indexOf('</tbody>', page.indexOf(`id="lab-${probe}"`)));
    expect(row('license')).toContain('caused by <a href="#lab-instance_http2">instance_http2</a>: GitLab&#39;s external URL cannot be reached from the exporter');
    expect(row('license')).toContain('Fix (instance_http2):');
    expect(row('instance_http2')).toContain('root cause of <a href="#lab-websocket_cable">websocket_cable</a>');
    expect(row('instance_http2')).not.toContain('caused by');
    expect(page).toContain('Root cause: <a href="#lab-instance_http2">instance_http2</a>');
  });

  it('a failure nothing explains keeps its own fix and is its own cause', async () => {
    const store = new ResultStore();
    store.record(result('lab', 'code_suggestions', { reason: 'http_status', message: 'answered 500' }));
    store.record(result('lab', 'instance_settings', { reason: 'requirement_not_met', message: 'GitLab Duo is turned off and locked' }));
    const lab = buildReport(await testPlan(), store, NOW).instances[0]!;
    // No Silent Mode fact: the settings failure does not explain a 500.
    expect(lab.causes.map((c) => [c.probe, c.affected.length])).toEqual([
      ['code_suggestions', 0],
      ['instance_settings', 0],
    ]);
    const suggestions = lab.probes.find((p) => p.name === 'code_suggestions')!;
    expect(suggestions.rootCause).toBeUndefined();
    expect(suggestions.fix).toEqual(fixAdvice('code_suggestions', 'http_status', 'duo_user'));
  });
});
