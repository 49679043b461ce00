import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance, secretsOf } from '../gitlab/availability.js';
import { GraphQLFieldMissingError } from '../gitlab/graphql-client.js';
import { queryCloudConnectorStatus, type CloudConnectorProbeResult, type CloudConnectorStatus } from '../gitlab/queries.js';
import { atLeast, versionLabel } from '../gitlab/version.js';
import { verdictFor } from './health-check-verdict.js';
import { REQUIRED } from './shared/relevance.js';
import { API_PHASES, API_REASONS } from '../gitlab/request.js';
import { joinCapped, quote, scrub } from '../core/redact.js';
import type { ApiContext } from '../gitlab/request.js';
import { defineProbe, type ProbeContext } from './types.js';

/** The release whose health check first knew Duo Self-Hosted (status_service.rb, !167016). */
const SELF_HOSTED_PROBE_SET = { major: 17, minor: 5, patch: 0, suffix: '' };

// GitLab's probe names are an open set (newer versions add some); bound what reaches labels.
const MAX_RESULTS = 32;
const CHECK_NAME = /^[a-z0-9_]{1,64}$/;
// host_probe messages (docs/gitlab-compatibility.md): "<host> reachable." ("reachable" without the
// dot and "<host> unreachable" in the first 17.3 builds), "<host> could not be reached. ..." and
// "<host> connection failed: ..." (17.3-17.5), "<host> connection failed: ..." (17.6+). The host is
// whatever URI#host gives for CUSTOMER_PORTAL_URL, CLOUD_CONNECTOR_BASE_URL or the AI gateway URL:
// a DNS name (dotless too), an IPv4 address or a bracketed IPv6 one; never a port, but a port is
// tolerated. It becomes a label value, so nothing else may pass.
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOST_IN_MESSAGE = new RegExp(
  `^(${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]{2,45}\\])(?::\\d{1,5})? (?:reachable|unreachable|could not be reached|connection failed)(?=[.:\\s]|$)`,
  'i',
);

/**
 * GitLab's own "Run health check" (GraphQL `cloudConnectorStatus`), seen from the GitLab server:
 * licence, both host probes, access catalog, token, a real completion and the Duo Agent Platform.
 * Each run costs GitLab a billable completion, hence the 30 min default.
 */
export const healthCheck = defineProbe({
  name: 'health_check',
  group: 'sync',
  proves: "GitLab's own Duo health check passes, as seen from the GitLab server (every probe GitLab runs)",
  defaultInterval: '30m',
  defaultTimeout: '60s',
  required: true,
  phases: API_PHASES,
  reasons: [...API_REASONS, 'requirement_not_met'],
  facts: [
    'gitlab_duo_health_check_success',
    'gitlab_duo_health_check_probe_success',
    'gitlab_duo_health_check_probe_counted',
    'gitlab_duo_access_catalog_updated_timestamp_seconds',
    'gitlab_duo_access_token_expiry_timestamp_seconds',
  ],
  token: 'admin',
  alerts: { failing: 'GitLabDuoSyncProbeFailed', byReason: { requirement_not_met: 'GitLabDuoHealthCheckFailed' } },
  advice: {
    default: 'One of GitLab\u2019s own checks fails (the message names it): fix it as its runbook section says, then run the health check again in Admin > GitLab Duo.',
    timeout: 'GitLab\u2019s health check makes several slow calls from the server: give the health_check probe a timeout of at least 20 s.',
    unexpected_response: 'The health check API (cloudConnectorStatus) needs GitLab 17.3 or later: upgrade GitLab or disable this probe.',
  },
  availability: (instance) => needsInstance(instance, 'admin'),
  relevance: (env) => {
    const version = env.capabilities?.version;
    const shown = version ? versionLabel(version) : 'here';
    if (env.flags.health_check === false) return { use: 'skip', why: `GitLab ${shown} has no Duo health check API (cloudConnectorStatus came in 17.3)` };
    if (env.deployment === 'self_hosted' && version && !atLeast(version, SELF_HOSTED_PROBE_SET)) {
      return { use: 'skip', why: `GitLab ${shown}'s health check has no self-hosted probe set (it came in 17.5): it tests the cloud connection Duo Self-Hosted does not use` };
    }
    return REQUIRED;
  },
  target: (instance) => (instance.url ? instanceUrl(instance, '/api/graphql').href : ''),
  async run(ctx: ProbeContext) {
    const status = await fetchStatus(ctx, ctx.environment.flags.health_check_details !== false);
    const results = (status.probeResults ?? []).slice(0, MAX_RESULTS);
    ctx.record.fact('gitlab_duo_health_check_success', status.success === true ? 1 : 0);
    const secrets = secretsOf(ctx.instance);
    const judged = results.map((result) => ({ result, verdict: verdictFor(result, ctx.environment) }));
    recordResults(ctx, judged, secrets);
    recordTimestamps(ctx, results);
    const ignored = judged.filter((j) => !j.verdict.counted);
    for (const { result, verdict } of ignored) if (!verdict.counted) ctx.record.note(`not counted: ${describe(result, secrets)} failed, but ${verdict.why}`);
    const failed = judged.filter((j) => j.verdict.counted && j.result.success !== true).map((j) => j.result);
    if (failed.length > 0 || (status.success !== true && ignored.length === 0)) throw new ProbeError('requirement_not_met', failureMessage(failed, status.success, secrets));
    const names = [...new Set(results.map((r) => r.name ?? '').filter((n) => CHECK_NAME.test(n)))];
    const passed = ignored.length === 0 ? 'passed' : `passed for what this instance uses (${ignored.length} not counted, see below)`;
    ctx.record.note(`GitLab's health check ${passed} (${results.length} probes: ${quote(names.join(', '), secrets, 300)})`);
  },
});

/**
 * `errors` and `details` are selected where the release has them; without introspection they
 * are tried, and a release that lacks them is asked again without.
 */
async function fetchStatus(ctx: ApiContext, withDetails: boolean): Promise<CloudConnectorStatus> {
  let status: CloudConnectorStatus | null;
  try {
    status = await queryCloudConnectorStatus(ctx, credential(ctx.instance, 'admin')!, withDetails);
  } catch (err) {
    if (withDetails && err instanceof GraphQLFieldMissingError && (err.field === 'errors' || err.field === 'details')) return fetchStatus(ctx, false);
    if (err instanceof GraphQLFieldMissingError && err.field === 'cloudConnectorStatus') {
      throw new ProbeError('unexpected_response', "this GitLab has no cloudConnectorStatus query: the Duo health check API needs GitLab 17.3 or later", { cause: err });
    }
    throw err;
  }
  // Null without a GraphQL error (that would have been `forbidden` already) is not an answer.
  if (!status) throw new ProbeError('unexpected_response', 'cloudConnectorStatus is null without an explanation');
  return status;
}

interface Judged {
  readonly result: CloudConnectorProbeResult;
  readonly verdict: ReturnType<typeof verdictFor>;
}

function recordResults(ctx: ProbeContext, judged: readonly Judged[], secrets: readonly string[]): void {
  // The two host_probes share a name; the target tells them apart. Same key twice: all must pass.
  const seen = new Map<string, { check: string; target: string; success: boolean; counted: boolean }>();
  for (const { result, verdict } of judged) {
    const check = result.name ?? '';
    if (!CHECK_NAME.test(check)) continue;
    const target = check === 'host_probe' ? hostOf(result.message, secrets) : '';
    const key = `${check}\u0000${target}`;
    const before = seen.get(key);
    const success = result.success === true && (before?.success ?? true);
    seen.set(key, { check, target, success, counted: verdict.counted && (before?.counted ?? true) });
  }
  for (const { check, target, success, counted } of seen.values()) {
    ctx.record.fact('gitlab_duo_health_check_probe_success', success ? 1 : 0, { check, target });
    ctx.record.fact('gitlab_duo_health_check_probe_counted', counted ? 1 : 0, { check, target });
  }
}

/** The host a host_probe message names, or ''; a message carrying a secret names none. */
export function hostOf(message: string | null | undefined, secrets: readonly string[] = []): string {
  const match = HOST_IN_MESSAGE.exec(scrub(message?.trim() ?? '', secrets));
  return match && match[1]!.length <= 253 ? match[1]!.toLowerCase() : '';
}

function recordTimestamps(ctx: ProbeContext, results: readonly CloudConnectorProbeResult[]): void {
  const updated = detail(results, 'access_probe', 'updated_at');
  if (updated !== undefined) ctx.record.fact('gitlab_duo_access_catalog_updated_timestamp_seconds', updated);
  const expires = detail(results, 'token_probe', 'expires_at');
  if (expires !== undefined) ctx.record.fact('gitlab_duo_access_token_expiry_timestamp_seconds', expires);
}

/** A time in a probe's `details` (ISO text, or Unix seconds), as Unix seconds. */
function detail(results: readonly CloudConnectorProbeResult[], probe: string, key: string): number | undefined {
  const details = results.find((r) => r.name === probe)?.details;
  if (typeof details !== 'object' || details === null) return undefined;
  const value = (details as Record<string, unknown>)[key];
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value > 1e12 ? value / 1000 : value;
  if (typeof value !== 'string') return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at / 1000;
}

function failureMessage(failed: readonly CloudConnectorProbeResult[], success: boolean | null, secrets: readonly string[]): string {
  if (failed.length === 0) return success === null ? 'GitLab\'s health check gave no overall result' : "GitLab's health check reports failure without a failed probe";
  return `GitLab's health check failed: ${joinCapped(failed.map((r) => describe(r, secrets)), '; ', 1200)}`;
}

/** `name (target): message`, quoted and scrubbed. */
function describe(r: CloudConnectorProbeResult, secrets: readonly string[]): string {
  const name = quote(r.name ?? 'unnamed', secrets, 64);
  const target = r.name === 'host_probe' ? hostOf(r.message, secrets) : '';
  const text = r.message || (r.errors ?? []).join(' ');
  return `${name}${target ? ` (${target})` : ''}: ${quote(text || 'no message', secrets, 200)}`;
}
