/**
 * Issue 13, "Fleets of exporters", end to end: the fleet dashboards and alerts work against the
 * simulator with two exporters.
 *
 *   simulator ──probes── exporter gitlab-rails-1 (healthy)           ──┐
 *             ──probes── exporter gitlab-rails-2 (proxy down) ─────────┴─ prometheus ── alertmanager ── webhook
 *
 * Both exporters label the simulated GitLab gitlab="simulator"; Prometheus tells them apart by the
 * `instance` label the documented scrape config gives them (docs/deployment.md#fleet). The second
 * node's outbound probes fail (reason proxy) while the first node's pass: the shipped rules must
 * page once, as GitLabDuoProbeFailedOnSomeNodes naming that node, never as the probe-group alert,
 * and mute that node's GitLabDuoNotReady; every aggregate panel of the dashboards must show one
 * value per gitlab, not one per node. Rules and Alertmanager run on the test clock of stack.ts
 * (×60). Every wait is a bounded poll.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { INSTANCE, JOB } from './stack.js';
import { allDashboardQueries, evaluate, problems } from './dashboard-queries.js';
import { startFleet, type Fleet } from './fleet-stack.js';
import { alertmanagerAlerts, seriesOf } from './prometheus-api.js';
import { waitFor } from './wait.js';
import { hasLabels } from './webhook.js';

const FLEET_ALERT = 'GitLabDuoProbeFailedOnSomeNodes';
/** The probe-group alerts the fleet alert stands in for: none may fire for a node-only failure. */
const GROUP_ALERTS = 'GitLabDuo(Network|Sync|Exchange|Settings|Node)ProbeFailed|GitLabDuoWebSocketCableBlocked';
/** Required outbound probes: the proxy breaks them on the second node. */
const BROKEN_PROBES = ['customers_portal', 'cloud_connector'];
const TIMEOUT_MS = 30_000;

let fleet: Fleet | undefined;
let starting: Promise<Fleet> | undefined;
const startedAt = Date.now();

/** Started on first use, not in beforeAll: a missing Debian package must fail the tests, not skip them. */
async function start(): Promise<Fleet> {
  starting ??= startFleet().then((f) => (fleet = f));
  return starting;
}

/** A range selector covering everything since the test file started. */
const sinceStart = (): string => `[${Math.ceil((Date.now() - startedAt) / 1000) + 1}s]`;

async function waitFleetAlertFiring(f: Fleet): Promise<void> {
  let seen: string[] = [];
  await waitFor(
    `${FLEET_ALERT} firing for ${BROKEN_PROBES.join(', ')} on ${f.broken.instance}`,
    async () => {
      const firing = await seriesOf(f.prometheus.url, `ALERTS{alertname="${FLEET_ALERT}",alertstate="firing",gitlab="${INSTANCE}"}`);
      seen = firing.map((s) => `${s.metric.instance} ${s.metric.probe}`);
      return BROKEN_PROBES.every((p) => firing.some((s) => s.metric.probe === p && s.metric.instance === f.broken.instance)) ? true : undefined;
    },
    TIMEOUT_MS,
    () => `firing: ${seen.join('; ') || '(none)'}\n${f.logs()}`,
  );
}

describe.sequential('a fleet end to end: two exporters of one GitLab, one behind a broken proxy', () => {
  afterAll(async () => {
    await starting?.catch(() => undefined);
    await fleet?.stop();
  }, 60_000);

  it('the healthy node is ready, the broken node is not', { timeout: 60_000 }, async () => {
    const f = await start();
    const ready = (instance: string) => `gitlab_duo_ready{gitlab="${INSTANCE}",instance="${instance}"}`;
    await waitFor(`${f.healthy.instance} ready`, async () => ((await seriesOf(f.prometheus.url, `${ready(f.healthy.instance)} == 1`)).length === 1 ? true : undefined), TIMEOUT_MS, () => f.logs());
    await waitFor(`${f.broken.instance} not ready`, async () => ((await seriesOf(f.prometheus.url, `${ready(f.broken.instance)} == 0`)).length === 1 ? true : undefined), TIMEOUT_MS, () => f.logs());
    const reasons = await seriesOf(f.prometheus.url, `gitlab_duo_probe_failure_reason{instance="${f.broken.instance}",reason="proxy"} == 1`);
    expect(reasons.map((s) => s.metric.probe)).toEqual(expect.arrayContaining(BROKEN_PROBES));
  });

  it(`${FLEET_ALERT} pages for the broken node only, once, and mutes its GitLabDuoNotReady`, { timeout: 60_000 }, async () => {
    const f = await start();
    await waitFleetAlertFiring(f);

    const notified = await waitFor(
      `${FLEET_ALERT} at the pager`,
      () => f.webhook.received.find((n) => n.status === 'firing' && hasLabels(n.labels, { alertname: FLEET_ALERT, instance: f.broken.instance, probe: 'cloud_connector' })),
      TIMEOUT_MS,
    );
    expect(notified.receiver).toBe('/pager');
    expect(notified.annotations.description).toMatch(new RegExp(`fails on node ${f.broken.instance} .*\\d+ runs in a row, confirmed by a re-check \\(reason: proxy\\), while it passes on ${f.healthy.instance}\\.`));

    // Its node's catch-all fires in Prometheus and is muted in Alertmanager (inhibit rule 8).
    const muted = await waitFor(
      `GitLabDuoNotReady of ${f.broken.instance} suppressed`,
      async () => (await alertmanagerAlerts(f.alertmanager.url, 'GitLabDuoNotReady')).find((a) => a.labels.instance === f.broken.instance && a.status.state === 'suppressed'),
      TIMEOUT_MS,
    );
    expect(muted.status.inhibitedBy.length).toBeGreaterThan(0);

    // Never the healthy node, and never a second page under the probe-group name.
    const window = sinceStart();
    const fleetElsewhere = await seriesOf(f.prometheus.url, `max_over_time(ALERTS{alertname="${FLEET_ALERT}",instance!="${f.broken.instance}"}${window})`);
    expect(fleetElsewhere.map((s) => s.metric), `${FLEET_ALERT} for another node`).toEqual([]);
    const groupFiring = await seriesOf(f.prometheus.url, `max_over_time(ALERTS{alertname=~"${GROUP_ALERTS}",alertstate="firing"}${window})`);
    expect(groupFiring.map((s) => s.metric), 'the probe-group alerts').toEqual([]);
    const pages = f.webhook.received.filter((n) => new RegExp(`^(?:${GROUP_ALERTS})$`).test(n.labels.alertname ?? '') || (n.labels.instance === f.healthy.instance && n.status === 'firing'));
    expect(pages.map((n) => n.labels), 'notified: probe-group alerts, or anything of the healthy node').toEqual([]);
    expect(await seriesOf(f.prometheus.url, `ALERTS{instance="${f.healthy.instance}"}`), 'alerts of the healthy node').toEqual([]);
  });

  it('every dashboard query is valid, has data, and aggregates the two nodes into one value per gitlab', { timeout: 60_000 }, async () => {
    const f = await start();
    await waitFleetAlertFiring(f);
    const queries = allDashboardQueries(INSTANCE, JOB);
    const outcomes = await evaluate(f.prometheus.url, queries, TIMEOUT_MS, true);
    expect(problems(outcomes, true), 'dashboard queries with two exporters').toEqual([]);

    const of = (title: string, refId = 'A') => outcomes.find((o) => o.query.where.includes(` "${title}" ${refId}`))!.series;
    const nodes = (title: string) => [...new Set(of(title).map((s) => s.instance))].sort();
    // Aggregates: one series per gitlab, and the healthy node's 1 does not hide the broken node's 0.
    const ready = outcomes.find((o) => o.query.where.includes(' "GitLab Duo ready" A'))!;
    expect(await seriesOf(f.prometheus.url, ready.query.expr)).toEqual([{ metric: { gitlab: INSTANCE }, value: [expect.any(Number), '0'] }]);
    expect(nodes('Result per node')).toEqual([f.healthy.instance, f.broken.instance].sort());
    // Per node where the node matters.
    expect(nodes('Nodes that fail where others pass')).toEqual([f.broken.instance]);
    expect(nodes('Failing probes and reasons')).toEqual([f.broken.instance]);
    expect(nodes('Exporter up')).toEqual([f.healthy.instance, f.broken.instance].sort());
  });

  it('when the other node fails the probe too, the probe-group alert pages for both nodes in one notification group', { timeout: 60_000 }, async () => {
    const f = await start();
    await waitFleetAlertFiring(f);
    const since = Date.now();
    f.sim.setScenario('cloud_connector_down');
    try {
      const both = [f.healthy.instance, f.broken.instance].sort();
      const group = await waitFor(
        'GitLabDuoNetworkProbeFailed for cloud_connector of both nodes at the pager',
        () => {
          const got = f.webhook.received.filter((n) => n.at >= since && n.status === 'firing' && hasLabels(n.labels, { alertname: 'GitLabDuoNetworkProbeFailed', probe: 'cloud_connector' }));
          return both.every((i) => got.some((n) => n.labels.instance === i)) ? got : undefined;
        },
        TIMEOUT_MS,
        () => f.logs(),
      );
      // One Alertmanager group (gitlab, alertname): one notification thread, not one per node.
      expect(new Set(group.map((n) => n.groupKey)).size).toBe(1);
      expect(group.every((n) => n.receiver === '/pager')).toBe(true);
      // The fleet alert of that probe resolves: the failure is the instance's now.
      await waitFor(
        `${FLEET_ALERT} for cloud_connector to resolve`,
        async () => ((await seriesOf(f.prometheus.url, `ALERTS{alertname="${FLEET_ALERT}",probe="cloud_connector"}`)).length === 0 ? true : undefined),
        TIMEOUT_MS,
      );
      // Counted once, not once per node (cloud_connector fails on both): the panel minus the
      // number of distinct failing probes, in one query so that both see the same instant.
      const distinct = `count(max by (probe) (gitlab_duo_probe_success{gitlab="${INSTANCE}"} == 0))`;
      const perNode = `count(gitlab_duo_probe_success{gitlab="${INSTANCE}"} == 0)`;
      expect(await seriesOf(f.prometheus.url, `(${panelQuery('Failing probes')}) - on () group_left () ${distinct}`)).toEqual([{ metric: { gitlab: INSTANCE }, value: [expect.any(Number), '0'] }]);
      expect(await seriesOf(f.prometheus.url, `${perNode} > ${distinct}`), 'a probe fails on both nodes').toHaveLength(1);
    } finally {
      f.sim.setScenario('healthy');
    }
  });
});

/** A panel's first query, with the variables filled in as Grafana's All would. */
function panelQuery(title: string): string {
  const q = allDashboardQueries(INSTANCE, JOB).find((x) => x.where.includes(` "${title}" A`));
  if (!q) throw new Error(`no panel "${title}"`);
  return q.expr;
}
