import { formatDuration } from '../config/duration.js';
import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance, secretsOf } from '../gitlab/availability.js';
import { queryCurrentLicense, type CurrentLicense } from '../gitlab/queries.js';
import { API_PHASES, API_REASONS } from '../gitlab/request.js';
import { joinCapped, labelValue, quote, scrub } from '../core/redact.js';
import { defineProbe, type ProbeContext } from './types.js';

/** The `type` label's closed set (metrics.md). */
export const LICENSE_TYPES = ['online_cloud', 'offline_cloud', 'legacy_license', 'none'] as const;
export type LicenseTypeLabel = (typeof LICENSE_TYPES)[number];

const PLAN_MAX_LENGTH = 32;

/**
 * Duo needs a cloud licence activated with an activation code ("online_cloud"), synchronised
 * with customers.gitlab.com recently and not expired (facts §2). GitLab's own health check only
 * asks the first question; this probe exports the sync and expiry times to alert before trouble.
 */
export const license = defineProbe({
  name: 'license',
  group: 'sync',
  proves: 'the instance has an online cloud licence (activation code), synchronised recently, not expired',
  defaultInterval: '5m',
  defaultTimeout: '20s',
  required: true,
  phases: API_PHASES,
  reasons: [...API_REASONS, 'requirement_not_met'],
  facts: ['gitlab_duo_license_info', 'gitlab_duo_license_last_sync_timestamp_seconds', 'gitlab_duo_license_expiry_timestamp_seconds'],
  token: 'admin',
  alerts: { failing: 'GitLabDuoSyncProbeFailed' },
  advice: {
    default: 'Activate the subscription with an activation code (online cloud licence), let Sidekiq reach customers.gitlab.com for the daily sync, then synchronise it in Admin > Subscription.',
  },
  availability: (instance) => needsInstance(instance, 'admin'),
  target: (instance) => (instance.url ? instanceUrl(instance, '/api/graphql').href : ''),
  async run(ctx: ProbeContext) {
    const current = await queryCurrentLicense(ctx, credential(ctx.instance, 'admin')!);
    if (!current) {
      ctx.record.fact('gitlab_duo_license_info', 1, { type: 'none', plan: 'none' });
      throw new ProbeError('requirement_not_met', 'no licence: GitLab Duo needs a subscription activated with an activation code (Admin > Subscription)');
    }
    const secrets = secretsOf(ctx.instance);
    const type = licenseTypeLabel(current.type);
    ctx.record.fact('gitlab_duo_license_info', 1, { type, plan: labelValue(scrub(current.plan, secrets), PLAN_MAX_LENGTH, 'unknown') });
    const lastSync = timestamp(current.lastSync);
    const expiry = timestamp(current.expiresAt);
    if (lastSync !== undefined) ctx.record.fact('gitlab_duo_license_last_sync_timestamp_seconds', lastSync / 1000);
    if (expiry !== undefined) ctx.record.fact('gitlab_duo_license_expiry_timestamp_seconds', expiry / 1000);
    const selfHosted = ctx.environment.deployment === 'self_hosted';
    const problems = judge(current, type, lastSync, ctx.instance.thresholds.license_sync_max_age, secrets, selfHosted);
    if (problems.length > 0) throw new ProbeError('requirement_not_met', joinCapped(problems, '; ', 1000));
    const synced = lastSync === undefined ? 'never synchronised (an offline licence does not)' : `last synchronised ${ago(Date.now() - lastSync)} ago`;
    const profile = selfHosted && type === 'offline_cloud' ? ', accepted for Duo Self-Hosted' : '';
    ctx.record.note(`${type} licence (${quote(current.plan, secrets, 40)})${profile}, ${synced}${current.expiresAt ? `, expires ${quote(current.expiresAt, secrets, 40)}` : ''}`);
  },
});

/**
 * GitLab's `License#license_type` answers online_cloud, offline_cloud, or legacy_license for
 * everything else; an unknown future value is reported the way GitLab itself falls back, as
 * legacy_license, which keeps the label set closed (the raw value is in the failure message).
 */
export function licenseTypeLabel(type: string): Exclude<LicenseTypeLabel, 'none'> {
  return type === 'online_cloud' || type === 'offline_cloud' ? type : 'legacy_license';
}

/**
 * Duo needs an online cloud licence, except Duo Self-Hosted, which also runs on an offline cloud
 * licence; an offline licence never synchronises, so its sync age means nothing
 * (docs/gitlab-compatibility.md, license).
 */
function judge(current: CurrentLicense, type: LicenseTypeLabel, lastSync: number | undefined, maxAgeMs: number, secrets: readonly string[], selfHosted: boolean): string[] {
  const now = Date.now();
  const problems: string[] = [];
  const accepted = type === 'online_cloud' || (selfHosted && type === 'offline_cloud');
  if (!accepted) {
    const raw = type === 'legacy_license' && current.type !== 'legacy_license' ? ` ("${quote(current.type, secrets, 40)}")` : '';
    const needs = selfHosted ? 'an online or offline cloud licence (Duo Self-Hosted)' : 'an online cloud licence: activate the subscription with an activation code';
    problems.push(`the licence is ${type}${raw}, but Duo needs ${needs}`);
  }
  // GitLab never synchronises an offline licence: its sync age means nothing.
  const syncs = !(selfHosted && type === 'offline_cloud');
  if (syncs && lastSync === undefined) {
    problems.push(current.lastSync ? `lastSync "${quote(current.lastSync, secrets, 40)}" is not a time` : 'the licence has never synchronised with customers.gitlab.com');
  } else if (syncs && lastSync !== undefined && now - lastSync > maxAgeMs) {
    problems.push(`last synchronised ${ago(now - lastSync)} ago, more than ${formatDuration(maxAgeMs)}: check outbound HTTPS to customers.gitlab.com and the Sidekiq sync job`);
  }
  if (current.expiresAt && isExpired(current.expiresAt, now)) problems.push(`the licence expired on ${quote(current.expiresAt, secrets, 40)}`);
  return problems;
}

/** `expiresAt` is a GraphQL Date: the licence is valid through that day (`expires_at < today`). */
function isExpired(expiresAt: string, now: number): boolean {
  if (/^\d{4}-\d{2}-\d{2}$/.test(expiresAt)) return expiresAt < new Date(now).toISOString().slice(0, 10);
  const at = Date.parse(expiresAt);
  return !Number.isNaN(at) && at < now;
}

/** Unix ms of a GraphQL Time or Date; a bare date is midnight UTC of that day. */
function timestamp(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : at;
}

function ago(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.round(minutes / 60);
  // Hours up to a week: thresholds are in hours (72h), so "80h" reads better than "3d".
  return hours < 168 ? `${hours}h` : `${Math.round(hours / 24)}d`;
}
