import type { Config, InstanceConfig, ProbeSettings } from '../config/schema.js';
import type { Env } from '../core/env.js';
import type { CloudflareRanges } from '../net/cloudflare.js';
import type { NetOptions } from '../net/options.js';
import { proxyFromEnv } from '../net/proxy.js';
import { PROBES } from '../probes/index.js';
import { resolveEnvironment, type InstanceEnvironment } from '../gitlab/deployment.js';
import type { Capabilities } from '../gitlab/capabilities.js';
import type { ProbeDefinition, Relevance } from '../probes/types.js';
import { stateKey } from './store.js';

/** One probe on one instance, with everything needed to run it or to say why it does not run. */
export interface PlannedProbe {
  readonly key: string;
  readonly instance: InstanceConfig;
  readonly probe: ProbeDefinition;
  readonly settings: ProbeSettings;
  readonly net: NetOptions;
  /** Undefined when scheduled; otherwise why it is skipped (`gitlab_duo_probe_enabled 0`). */
  readonly skippedBecause: string | undefined;
  /** Counts in gitlab_duo_ready (`gitlab_duo_probe_required`): the config, else the profile. */
  readonly required: boolean;
  /** Why required or optional here, for the report (e.g. "optional: HTTP/2 is recommended"). */
  readonly requiredWhy: string | undefined;
  readonly environment: InstanceEnvironment;
}

export interface Plan {
  readonly config: Config;
  readonly probes: readonly PlannedProbe[];
  /** Per instance name: what was detected and the deployment profile the plan follows. */
  readonly environments: ReadonlyMap<string, InstanceEnvironment>;
}

/** What was detected per instance name; an instance missing here is planned as unknown. */
export type DetectedCapabilities = ReadonlyMap<string, Capabilities | undefined>;

/** Compiles the validated config into instances × probes, in catalog order. */
export function buildPlan(config: Config, cloudflare: CloudflareRanges, env: Env = process.env, detected: DetectedCapabilities = new Map()): Plan {
  const environments = new Map(config.instances.map((instance) => [instance.name, resolveEnvironment(instance, detected.get(instance.name))]));
  const probes = config.instances.flatMap((instance) => {
    const net = netOptions(instance, cloudflare, env);
    const environment = environments.get(instance.name)!;
    return PROBES.map((probe) => planOne(instance, probe, net, environment));
  });
  return { config, probes, environments };
}

function planOne(instance: InstanceConfig, probe: ProbeDefinition, net: NetOptions, environment: InstanceEnvironment): PlannedProbe {
  const settings = instance.probeSettings[probe.name]!;
  const availability = probe.availability(instance);
  const relevance: Relevance = probe.relevance?.(environment, instance) ?? (probe.required ? { use: 'required' } : { use: 'optional', why: 'a warning, not counted in readiness' });
  // `required: true` in the config is an explicit wish to have the probe: it overrides a skip.
  const forced = settings.required === true;
  const skippedBecause = !settings.enabled
    ? `disabled in the config (probes.${probe.name}.enabled: false)`
    : !availability.enabled
      ? availability.why
      : relevance.use === 'skip' && !forced
        ? relevance.why
        : undefined;
  const required = skippedBecause === undefined && (settings.required ?? relevance.use === 'required');
  const requiredWhy = settings.required !== undefined ? `probes.${probe.name}.required: ${settings.required} in the config` : relevance.why;
  return { key: stateKey(instance.name, probe.name), instance, probe, settings, net, skippedBecause, required, requiredWhy, environment };
}

export function netOptions(instance: InstanceConfig, cloudflare: CloudflareRanges, env: Env): NetOptions {
  const proxy = instance.proxy ? { url: new URL(instance.proxy.url), noProxy: instance.proxy.no_proxy } : proxyFromEnv(env);
  return {
    proxy,
    ca: instance.caPem ? [instance.caPem] : [],
    insecureSkipVerify: instance.tls.insecure_skip_verify,
    resolve: new Map(Object.entries(instance.resolve)),
    cloudflare,
  };
}

export function scheduled(plan: Plan): PlannedProbe[] {
  return plan.probes.filter((p) => p.skippedBecause === undefined);
}
