import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Env } from '../../src/core/env.js';
import type { Capabilities } from '../../src/gitlab/capabilities.js';
import type { InstanceEnvironment } from '../../src/gitlab/deployment.js';
import { API_PHASES, type ApiContext } from '../../src/gitlab/request.js';
import type { ProbeDefinition } from '../../src/probes/types.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { RunRecorder } from '../../src/runner/recorder.js';
import { ADMIN_TOKEN, DUO_TOKEN, HOST, pki } from './fake-gitlab.js';
import { caFileIn, planProbe, runPlanned, runProbeOnce, testDir, type PlannedSpec, type ProbeOutcome } from './probe-harness.js';
import { LOOPBACK } from './servers.js';

/**
 * An instance probe against the fake GitLab (fake-gitlab.ts), through the probe harness: the spec
 * says which GitLab (its port on gitlab.test, pinned to loopback, its CA trusted), which tokens
 * and settings the instance's config has.
 */

export interface InstanceSpec {
  /** Port of the fake GitLab; the URL is https://gitlab.test:<port> (plus `urlPath`). */
  readonly port?: number;
  readonly url?: string;
  readonly urlPath?: string;
  /** Default ADMIN_TOKEN; null for none. */
  readonly adminToken?: string | null;
  /** Default DUO_TOKEN; null for none. */
  readonly duoUserToken?: string | null;
  /** agent_platform_token; none unless given. */
  readonly agentPlatformToken?: string;
  /** The config's `deployment:`; the config's default unless given. */
  readonly deployment?: string;
  readonly timeout?: string;
  readonly thresholds?: Record<string, string>;
  /** Default: folders that do not exist (proxy_env is then skipped). */
  readonly proxyEnv?: { rails_env_dir: string; workhorse_env_dir: string };
  readonly proxy?: { url: string; no_proxy?: string[] };
  readonly env?: Env;
  readonly logger?: Logger;
}

/** The config instance `spec` stands for, with `probe`'s timeout. */
async function instanceConfig(probe: string, spec: InstanceSpec): Promise<Record<string, unknown>> {
  const dir = testDir('gde-gitlab-');
  const instance: Record<string, unknown> = {
    tls: { ca_file: caFileIn(dir, (await pki()).ca.certPem) },
    probes: { [probe]: { timeout: spec.timeout ?? '3s' } },
    proxy_env: spec.proxyEnv ?? { rails_env_dir: join(dir, 'no-rails'), workhorse_env_dir: join(dir, 'no-workhorse') },
  };
  const url = spec.url ?? (spec.port !== undefined ? `https://${HOST}:${spec.port}${spec.urlPath ?? ''}` : undefined);
  if (url) instance.url = url;
  if (spec.port !== undefined) instance.resolve = { [`${HOST}:${spec.port}`]: LOOPBACK };
  if (spec.adminToken !== null) instance.admin_token = spec.adminToken ?? ADMIN_TOKEN;
  if (spec.duoUserToken !== null) instance.duo_user_token = spec.duoUserToken ?? DUO_TOKEN;
  if (spec.agentPlatformToken !== undefined) instance.agent_platform_token = spec.agentPlatformToken;
  if (spec.deployment !== undefined) instance.deployment = spec.deployment;
  if (spec.thresholds) instance.thresholds = spec.thresholds;
  if (spec.proxy) instance.proxy = { no_proxy: [], ...spec.proxy };
  return instance;
}

/** `probe` of the spec's instance, planned (nothing detected) but not run. */
async function planned(probe: string, spec: InstanceSpec, capabilities?: Capabilities): Promise<PlannedSpec> {
  return planProbe({ probe, instance: await instanceConfig(probe, spec), env: spec.env, capabilities });
}

/** Plans one instance (nothing detected) and runs `probe` once, as the exporter would. */
export async function runInstanceProbe(probe: string, spec: InstanceSpec): Promise<ProbeOutcome> {
  return runProbeOnce({ probe, instance: await instanceConfig(probe, spec), env: spec.env, logger: spec.logger });
}

/**
 * Runs `probe` once against the fake GitLab on `port` in the environment `caps` describe, even
 * where that environment makes the plan skip it (runInstanceProbe's plan has nothing detected).
 */
export async function runInEnvironment(
  probe: ProbeDefinition,
  port: number,
  caps: Capabilities | undefined,
  spec: InstanceSpec = {},
): Promise<{ result: ProbeResult; environment: InstanceEnvironment }> {
  const { planned: p } = await planned(probe.name, { ...spec, port }, caps);
  return { result: await runPlanned({ ...p, probe }, spec.logger), environment: p.environment };
}

/** A client context for calling src/gitlab directly, with its own deadline. */
export async function apiContext(spec: InstanceSpec, timeoutMs = 3000): Promise<{ ctx: ApiContext; record: RunRecorder }> {
  const { planned: p } = await planned('version', spec);
  const record = new RunRecorder(API_PHASES);
  return { ctx: { instance: p.instance, net: p.net, signal: AbortSignal.timeout(timeoutMs), record }, record };
}
