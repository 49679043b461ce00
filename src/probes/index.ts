import { registerProbeCatalog } from '../config/probe-catalog.js';
import { agentPlatformClient } from './agent-platform-client.js';
import { aiGateway } from './ai-gateway.js';
import { cloudConnector } from './cloud-connector.js';
import { codeSuggestions } from './code-suggestions.js';
import { compositeIdentity } from './composite-identity.js';
import { customersPortal } from './customers-portal.js';
import { duoChat } from './duo-chat.js';
import { duoWorkflowService } from './duo-workflow-service.js';
import { duoWorkflowTools } from './duo-workflow-tools.js';
import { exporterTokens } from './exporter-tokens.js';
import { healthCheck } from './health-check.js';
import { instanceHttp2 } from './instance-http2.js';
import { instanceSettings } from './instance-settings.js';
import { license } from './license.js';
import { proxyEnv } from './proxy-env.js';
import { version } from './version.js';
import { websocketCable } from './websocket-cable.js';
import type { ProbeDefinition } from './types.js';

/**
 * THE list of probes (architecture.md's catalog). Config keys, metric label values, reports and
 * docs checks all derive from it; adding a probe is one file plus one line here.
 */
export const PROBES: readonly ProbeDefinition[] = [
  customersPortal,
  cloudConnector,
  duoWorkflowService,
  aiGateway,
  websocketCable,
  duoChat,
  instanceHttp2,
  license,
  healthCheck,
  codeSuggestions,
  duoWorkflowTools,
  agentPlatformClient,
  instanceSettings,
  compositeIdentity,
  version,
  // It judges the tokens against the scopes the other probes declare.
  exporterTokens(() => PROBES),
  proxyEnv,
];

// Typed as plain strings on purpose: the config schema is built from this list, and the probe
// definitions' types refer to the config's types, so literal types here would be circular.
export const PROBE_NAMES = PROBES.map((p) => p.name) as [string, ...string[]];

// The config's `probes:` keys and default schedules come from here (config/probe-catalog.ts).
registerProbeCatalog(PROBES);

export function findProbe(name: string): ProbeDefinition | undefined {
  return PROBES.find((p) => p.name === name);
}
