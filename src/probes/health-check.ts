import { ProbeError } from '../errors.js';
import { credential, instanceUrl, needsInstance, secretsOf } from '../gitlab/availability.js';
import { GraphQLFieldMissingError } from '../gitlab/graphql-client.js';
import { queryCloudConnectorStatus, type CloudConnectorProbeResult, type CloudConnectorStatus } from '../gitlab/queries.js';
import { API_PHASES } from '../gitlab/request.js';
import { joinCapped, quote, scrub } from '../gitlab/text.js';
import type { ApiContext } from '../gitlab/request.js';
import { defineProbe, type ProbeContext } from './types.js';

// GitLab's probe names are an open set (newer versions add some); bound what reaches labels.
const MAX_RESULTS = 32;
const CHECK_NAME = /^[a-z0-9_]{1,64}$/;
// host_probe messages: "customers.gitlab.com reachable." / "<host> connection failed: ...". The
// host becomes a label value, so it must look like a DNS name (with a dot) and nothing else.
const HOST_IN_MESSAGE = /^((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9])(?::\d+)? (?:reachable|connection failed)/i;

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
  facts: [
    'gitlab_duo_health_check_success',
    'gitlab_duo_health_check_probe_success',
    'gitlab_duo_access_catalog_updated_timestamp_seconds',
    'gitlab_duo_access_token_expiry_timestamp_seconds',
  ],
  token: 'admin',
  availability: (instance) => needsInstance(instance, 'admin'),
  target: (instance) => (instance.url ? instanceUrl(instance, '/api/graphql').href : ''),
  async run(ctx: ProbeContext) {
    const status = await fetchStatus(ctx);
    const results = (status.probeResults ?? []).slice(0, MAX_RESULTS);
    ctx.record.fact('gitlab_duo_health_check_success', status.success === true ? 1 : 0);
    const secrets = secretsOf(ctx.instance);
    recordResults(ctx, results, secrets);
    recordTimestamps(ctx, results);
    if (status.success !== true) throw new ProbeError('requirement_not_met', failureMessage(results, status.success, secrets));
    const names = [...new Set(results.map((r) => r.name ?? '').filter((n) => CHECK_NAME.test(n)))];
    ctx.record.note(`GitLab's health check passed (${results.length} probes: ${quote(names.join(', '), secrets, 300)})`);
  },
});

async function fetchStatus(ctx: ApiContext): Promise<CloudConnectorStatus> {
  let status: CloudConnectorStatus | null;
  try {
    status = await queryCloudConnectorStatus(ctx, credential(ctx.instance, 'admin')!);
  } catch (err) {
    if (err instanceof GraphQLFieldMissingError && err.field === 'cloudConnectorStatus') {
      throw new ProbeError('unexpected_response', "this GitLab has no cloudConnectorStatus query: the Duo health check API needs GitLab 17.3 or later", { cause: err });
    }
    throw err;
  }
  // Null without a GraphQL error (that would have been `forbidden` already) is not an answer.
  if (!status) throw new ProbeError('unexpected_response', 'cloudConnectorStatus is null without an explanation');
  return status;
}

function recordResults(ctx: ProbeContext, results: readonly CloudConnectorProbeResult[], secrets: readonly string[]): void {
  // The two host_probes share a name; the target tells them apart. Same key twice: all must pass.
  const seen = new Map<string, { check: string; target: string; success: boolean }>();
  for (const result of results) {
    const check = result.name ?? '';
    if (!CHECK_NAME.test(check)) continue;
    const target = check === 'host_probe' ? hostOf(result.message, secrets) : '';
    const key = `${check}\u0000${target}`;
    const success = result.success === true && (seen.get(key)?.success ?? true);
    seen.set(key, { check, target, success });
  }
  for (const { check, target, success } of seen.values()) {
    ctx.record.fact('gitlab_duo_health_check_probe_success', success ? 1 : 0, { check, target });
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

function failureMessage(results: readonly CloudConnectorProbeResult[], success: boolean | null, secrets: readonly string[]): string {
  const failed = results.filter((r) => r.success !== true);
  if (failed.length === 0) return success === null ? 'GitLab\'s health check gave no overall result' : "GitLab's health check reports failure without a failed probe";
  const lines = failed.map((r) => {
    const name = quote(r.name ?? 'unnamed', secrets, 64);
    const target = r.name === 'host_probe' ? hostOf(r.message, secrets) : '';
    const text = r.message || (r.errors ?? []).join(' ');
    return `${name}${target ? ` (${target})` : ''}: ${quote(text || 'no message', secrets, 200)}`;
  });
  return `GitLab's health check failed: ${joinCapped(lines, '; ', 1200)}`;
}
