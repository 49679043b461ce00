import type { Config, InstanceConfig, ProbeSettings } from '../config/schema.js';
import type { Env } from '../config/substitute.js';
import type { CloudflareRanges } from '../net/cloudflare.js';
import type { NetOptions } from '../net/options.js';
import { proxyFromEnv } from '../net/proxy.js';
import { PROBES } from '../probes/index.js';
import type { ProbeDefinition } from '../probes/types.js';
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
}

export interface Plan {
  readonly config: Config;
  readonly probes: readonly PlannedProbe[];
}

/** Compiles the validated config into instances × probes, in catalog order. */
export function buildPlan(config: Config, cloudflare: CloudflareRanges, env: Env = process.env): Plan {
  const probes = config.instances.flatMap((instance) => {
    const net = netOptions(instance, cloudflare, env);
    return PROBES.map((probe) => planOne(instance, probe, net));
  });
  return { config, probes };
}

function planOne(instance: InstanceConfig, probe: ProbeDefinition, net: NetOptions): PlannedProbe {
  const settings = instance.probeSettings[probe.name]!;
  const availability = probe.availability(instance);
  const skippedBecause = !settings.enabled ? `disabled in the config (probes.${probe.name}.enabled: false)` : availability.enabled ? undefined : availability.why;
  return { key: stateKey(instance.name, probe.name), instance, probe, settings, net, skippedBecause };
}

function netOptions(instance: InstanceConfig, cloudflare: CloudflareRanges, env: Env): NetOptions {
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
