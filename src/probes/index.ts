import { aiGateway } from './ai-gateway.js';
import { cloudConnector } from './cloud-connector.js';
import { customersPortal } from './customers-portal.js';
import { duoWorkflowService } from './duo-workflow-service.js';
import type { ProbeDefinition } from './types.js';

/**
 * THE list of probes (architecture.md's catalog). Config keys, metric label values, reports and
 * docs checks all derive from it; adding a probe is one file plus one line here.
 */
export const PROBES: readonly ProbeDefinition[] = [customersPortal, cloudConnector, duoWorkflowService, aiGateway];

// Typed as plain strings on purpose: the config schema is built from this list, and the probe
// definitions' types refer to the config's types, so literal types here would be circular.
export const PROBE_NAMES = PROBES.map((p) => p.name) as [string, ...string[]];

export function findProbe(name: string): ProbeDefinition | undefined {
  return PROBES.find((p) => p.name === name);
}
