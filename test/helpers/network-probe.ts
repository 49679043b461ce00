import type { Env } from '../../src/core/env.js';
import { parseCloudflareRanges } from '../../src/net/cloudflare.js';
import { caFileIn, runProbeOnce, testDir, type ProbeOutcome } from './probe-harness.js';

/**
 * A network probe (customers_portal, cloud_connector, duo_workflow_service, ai_gateway) against
 * local servers, through the probe harness: the spec says what a user would write in the config.
 */

export type NetworkProbe = 'customers_portal' | 'cloud_connector' | 'duo_workflow_service' | 'ai_gateway';

export interface RunSpec {
  readonly probe: NetworkProbe;
  readonly endpoints?: Partial<Record<NetworkProbe, string>>;
  /** Static resolution pins (`host:port` → address), the config's `resolve:`. */
  readonly resolve?: Readonly<Record<string, string>>;
  /** PEM written to a temporary file and named as `tls.ca_file`. */
  readonly caPem?: string;
  readonly insecureSkipVerify?: boolean;
  /** The config's `proxy:` (otherwise the proxy comes from `env`). */
  readonly proxy?: { readonly url: string; readonly no_proxy?: readonly string[] };
  /** The environment buildPlan reads proxies from; never process.env. */
  readonly env?: Env;
  /** The probe's timeout, a config duration; default 3s. */
  readonly timeout?: string;
  /** Cloudflare ranges text (one CIDR a line) instead of the bundled data/cloudflare-ranges.txt. */
  readonly cloudflareRanges?: string;
}

/** The config instance a spec stands for. */
function instanceConfig(spec: RunSpec): Record<string, unknown> {
  const instance: Record<string, unknown> = { probes: { [spec.probe]: { timeout: spec.timeout ?? '3s' } } };
  if (spec.endpoints) instance.endpoints = spec.endpoints;
  if (spec.resolve) instance.resolve = spec.resolve;
  const caFile = spec.caPem === undefined ? undefined : caFileIn(testDir(), spec.caPem);
  if (caFile !== undefined || spec.insecureSkipVerify !== undefined) {
    instance.tls = {
      ...(caFile !== undefined ? { ca_file: caFile } : {}),
      ...(spec.insecureSkipVerify !== undefined ? { insecure_skip_verify: spec.insecureSkipVerify } : {}),
    };
  }
  if (spec.proxy) instance.proxy = { url: spec.proxy.url, no_proxy: [...(spec.proxy.no_proxy ?? [])] };
  return instance;
}

/** Plans the spec's config and runs its probe once (unless the plan skips it). */
export function runOnce(spec: RunSpec): Promise<ProbeOutcome> {
  return runProbeOnce({
    probe: spec.probe,
    instance: instanceConfig(spec),
    env: spec.env,
    cloudflare: spec.cloudflareRanges === undefined ? undefined : parseCloudflareRanges(spec.cloudflareRanges, 'test ranges'),
    // The network probes' tests check that a run closed every socket it opened.
    socketBaseline: 'settled',
  });
}
