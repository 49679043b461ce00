import { parseConfigText } from '../../src/config/load.js';
import type { FailureReason } from '../../src/core/errors.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import type { Fact, Phase } from '../../src/core/run.js';
import { buildPlan, type Plan } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';

// Sentinels: if any of these shows up in a rendered report, a secret leaked.
export const SENTINELS = {
  adminToken: 'glpat-SENTINEL-admin-7f3a9c',
  duoToken: 'glpat-SENTINEL-duo-2b8e4d',
  urlUser: 'urluser-sentinel',
  urlPassword: 'urlpass-sentinel',
  proxyUser: 'proxyuser-sentinel',
  proxyPassword: 'proxypass-sentinel',
} as const;

export const PROXY_URL = `http://${SENTINELS.proxyUser}:${SENTINELS.proxyPassword}@proxy.example:3128`;

/**
 * Two instances: `lab` with every secret the config can hold (tokens, userinfo in the URL, a proxy
 * with credentials), and `bare` with a URL and no token, so token-gated probes are skipped.
 */
export async function testPlan(): Promise<Plan> {
  const yaml = [
    'instances:',
    '  - name: lab',
    `    url: https://${SENTINELS.urlUser}:${SENTINELS.urlPassword}@gitlab.example.com`,
    `    admin_token: ${SENTINELS.adminToken}`,
    `    duo_user_token: ${SENTINELS.duoToken}`,
    '    proxy:',
    `      url: ${PROXY_URL}`,
    '  - name: bare',
    '    url: https://gitlab.example.org',
    '    probes:',
    '      composite_identity: { enabled: false }',
  ].join('\n');
  const config = await parseConfigText(yaml, 'test', { env: {} });
  return buildPlan(config, parseCloudflareRanges('104.16.0.0/13\n', 'test'), {});
}

export interface ResultOptions {
  readonly success?: boolean;
  readonly reason?: FailureReason;
  readonly message?: string;
  readonly notes?: string[];
  readonly at?: number;
  readonly phases?: Partial<Record<Phase, number>>;
  readonly facts?: Fact[];
}

export function result(instance: string, probe: string, options: ResultOptions = {}): ProbeResult {
  const success = options.success ?? options.reason === undefined;
  const finishedAt = options.at ?? Date.parse('2026-05-01T10:00:00Z');
  return {
    instance,
    probe,
    success,
    reason: success ? undefined : (options.reason ?? 'internal'),
    message: options.message ?? (success ? 'ok' : 'failed'),
    notes: options.notes ?? [],
    target: 'https://gitlab.example.com',
    startedAt: finishedAt - 120,
    finishedAt,
    startLagMs: 0,
    durationSeconds: 0.12,
    timeoutSeconds: 10,
    phases: options.phases ?? { dns: 0.001, connect: 0.02, tls: 0.05, first_byte: 0.049 },
    facts: options.facts ?? [],
    retryAfterSeconds: undefined,
  };
}
