/**
 * Every query of the shipped dashboards, with Grafana's variables filled in, and in which state of
 * the simulated world each one is expected to show data.
 */
import { DASHBOARD_FILES, dashboardQueries, loadDashboard } from '../assets/helpers.js';
import { instantQuery } from './prometheus-api.js';

export type WorldState = 'healthy' | 'failing';

/** A panel (by its quoted title, as in dashboardQueries' `where`), the annotation, or a variable. */
interface QueryRef {
  readonly file: (typeof DASHBOARD_FILES)[number];
  /** A panel's quoted title (`"Panel title"`, every target of it), `annotation`, or `variable <name>`. */
  readonly where: string;
}

const OVERVIEW = 'dashboards/gitlab-duo-overview.json';
const PROBE = 'dashboards/gitlab-duo-probe.json';

/**
 * Queries that only have data while something fails: the failure reasons (1 only for the failing
 * reason) and the firing-alert annotations. They are evaluated during the customers_portal_down
 * scenario, with $probe = customers_portal.
 */
const NEEDS_A_FAILURE: readonly QueryRef[] = [
  { file: OVERVIEW, where: '"Failing probes and reasons"' },
  { file: OVERVIEW, where: 'annotation' },
  { file: PROBE, where: '"Failure reason"' },
  { file: PROBE, where: '"Failure reason over time"' },
  { file: PROBE, where: '"Result per node"' },
  { file: PROBE, where: 'annotation' },
];
export const FAILING_PROBE = 'customers_portal';

/**
 * The allow-list: panels that cannot have data against the simulator. Each must still be a valid
 * query, and must really be empty (an entry that starts returning data is stale and fails).
 */
const NO_DATA_AGAINST_SIMULATOR: readonly (QueryRef & { readonly why: string })[] = [
  {
    file: OVERVIEW,
    where: '"Addresses in Cloudflare ranges"',
    why: 'gitlab_duo_cloudflare_addresses is only exported for GitLab\'s own customers.gitlab.com / cloud.gitlab.com on port 443; the simulator\'s endpoints are overridden (*.duo-sim.test on ephemeral ports)',
  },
  {
    file: PROBE,
    where: '"Cloudflare ranges"',
    why: 'same as the overview\'s Cloudflare panel: no GitLab-owned host is probed in the simulator',
  },
];

/**
 * Queries that need a fleet: empty with one exporter by design (nothing else to compare with), with
 * data when one node of two fails a probe the other passes (test/e2e/fleet.test.ts).
 */
const NEEDS_A_FLEET: readonly (QueryRef & { readonly why: string })[] = [
  { file: OVERVIEW, where: '"Nodes that fail where others pass"', why: 'a node failing a probe another node passes: with one exporter there is no other node' },
];

/**
 * Panels that show one value per exporter (node) on purpose; every other query must aggregate the
 * nodes away (no `job` or `instance` label in its result), so a fleet shows one value per gitlab.
 */
const PER_NODE: readonly QueryRef[] = [
  { file: OVERVIEW, where: '"Failing probes and reasons"' },
  { file: OVERVIEW, where: '"Nodes that fail where others pass"' },
  { file: OVERVIEW, where: '"Exporter up"' },
  { file: OVERVIEW, where: '"Config reload"' },
  { file: OVERVIEW, where: '"Exporter version"' },
  { file: OVERVIEW, where: 'annotation' },
  { file: PROBE, where: '"Result per node"' },
  { file: PROBE, where: 'annotation' },
];

/** $probe for the probe dashboard in the healthy world: a probe that has the panel's facts. */
const DEFAULT_PROBE = 'cloud_connector'; // HTTP status, HTTP version, certificate, phases, threshold
const PROBE_FOR_PANEL: Readonly<Record<string, string>> = {
  '"gRPC status code"': 'duo_workflow_service',
  '"gRPC serving status"': 'duo_workflow_service',
};

/** Grafana's range variables: one minute holds about 60 scrapes and 30 runs of a 2 s probe. */
const RANGE = '1m';

export interface DashboardQuery {
  readonly file: string;
  readonly where: string;
  /** The query as written in the dashboard. */
  readonly template: string;
  /** With every variable replaced. */
  readonly expr: string;
  readonly state: WorldState;
  /** Set for allow-listed queries: why they cannot have data against the simulator. */
  readonly noDataBecause?: string;
  /** Set for queries that have data only in a fleet: why. */
  readonly fleetOnly?: string;
  /** Its series are one per exporter on purpose (PER_NODE). */
  readonly perNode: boolean;
}

/** `where` is `panel <id> "<title>" <refId>`, `annotation` or `variable <name>`. */
function matches(ref: QueryRef, file: string, where: string): boolean {
  return ref.file === file && (ref.where.startsWith('"') ? where.includes(` ${ref.where} `) : where === ref.where);
}

/** Replaces Grafana's variables with concrete values, throwing on any variable it does not know. */
export function substitute(template: string, values: { gitlab: string; job: string; instance: string; probe: string }): string {
  return template.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    switch (name) {
      case 'gitlab':
      case 'job':
      case 'instance':
      case 'probe':
        return values[name];
      case 'window':
      case '__rate_interval':
      case '__interval':
      case '__range':
        return RANGE;
      default:
        throw new Error(`unknown dashboard variable ${whole} in ${template}`);
    }
  });
}

/**
 * Every panel target, annotation and variable query of every dashboard, ready to run. `instance`
 * is the $instance variable's value: `.+`, Grafana's All, by default.
 */
export function allDashboardQueries(gitlab: string, job: string, instance = '.+'): DashboardQuery[] {
  const refs = [...NEEDS_A_FAILURE, ...NO_DATA_AGAINST_SIMULATOR, ...NEEDS_A_FLEET, ...PER_NODE];
  const used = new Set<QueryRef>();
  const queries: DashboardQuery[] = [];
  for (const file of DASHBOARD_FILES) {
    for (const q of dashboardQueries(loadDashboard(file))) {
      const failing = NEEDS_A_FAILURE.find((r) => matches(r, file, q.where));
      const allowed = NO_DATA_AGAINST_SIMULATOR.find((r) => matches(r, file, q.where));
      const fleet = NEEDS_A_FLEET.find((r) => matches(r, file, q.where));
      const perNode = PER_NODE.find((r) => matches(r, file, q.where));
      for (const r of [failing, allowed, fleet, perNode]) if (r) used.add(r);
      const title = Object.keys(PROBE_FOR_PANEL).find((t) => q.where.includes(t));
      const probe = failing ? FAILING_PROBE : title ? (PROBE_FOR_PANEL[title] ?? DEFAULT_PROBE) : DEFAULT_PROBE;
      queries.push({
        file,
        where: q.where,
        template: q.expr,
        expr: substitute(q.expr, { gitlab, job, instance, probe }),
        state: failing ? 'failing' : 'healthy',
        noDataBecause: allowed?.why,
        fleetOnly: fleet?.why,
        perNode: perNode !== undefined || q.where.startsWith('variable'),
      });
    }
  }
  const unused = refs.filter((r) => !used.has(r));
  if (unused.length > 0) throw new Error(`stale entries in test/e2e/dashboard-queries.ts (no such query): ${JSON.stringify(unused)}`);
  return queries;
}

export interface QueryOutcome {
  readonly query: DashboardQuery;
  readonly status: string;
  readonly error?: string;
  readonly seriesCount: number;
  /** The labels of each series of the result. */
  readonly series: readonly Readonly<Record<string, string>>[];
}

/**
 * Runs the queries until each one that should have data has some, or the deadline passes (rates
 * and percentiles need a few scrapes after a state change). Allow-listed queries run once.
 */
export async function evaluate(prometheusUrl: string, queries: readonly DashboardQuery[], timeoutMs: number, fleet = false): Promise<QueryOutcome[]> {
  const deadline = Date.now() + timeoutMs;
  const outcomes = new Map<DashboardQuery, QueryOutcome>();
  let pending = [...queries];
  for (;;) {
    const next: DashboardQuery[] = [];
    for (const query of pending) {
      const answer = await instantQuery(prometheusUrl, query.expr);
      const outcome = { query, status: answer.status, error: answer.error, seriesCount: answer.series.length, series: answer.series.map((x) => x.metric) };
      outcomes.set(query, outcome);
      if (answer.status === 'success' && answer.series.length === 0 && query.noDataBecause === undefined && (fleet || query.fleetOnly === undefined)) next.push(query);
    }
    pending = next;
    if (pending.length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return queries.map((q) => outcomes.get(q)!);
}

/**
 * Failure lines for a set of outcomes: invalid queries, empty ones, and stale allow-list entries.
 * `fleet`: the outcomes come from two exporters of one gitlab, one failing where the other passes:
 * the fleet-only queries must have data, and every query not per node must show one value per
 * gitlab (no series left with a `job` or `instance` label).
 */
export function problems(outcomes: readonly QueryOutcome[], fleet = false): string[] {
  return outcomes.flatMap(({ query, status, error, seriesCount, series }) => {
    const name = `${query.file} ${query.where}: ${query.expr}`;
    if (status !== 'success') return [`INVALID ${name}: ${error ?? status}`];
    const expectEmpty = query.noDataBecause !== undefined || (!fleet && query.fleetOnly !== undefined);
    if (!expectEmpty && seriesCount === 0) return [`NO DATA ${name}`];
    if (query.noDataBecause !== undefined && seriesCount > 0) return [`ALLOW-LISTED BUT HAS DATA (remove it from the allow-list) ${name}`];
    if (expectEmpty && seriesCount > 0) return [`ONE EXPORTER BUT HAS DATA ${name}`];
    const perNode = series.filter((labels) => 'instance' in labels || 'job' in labels);
    if (fleet && !query.perNode && perNode.length > 0) return [`ONE VALUE PER NODE, NOT PER GITLAB (aggregate it) ${name}: ${JSON.stringify(perNode)}`];
    return [];
  });
}
