import type { InstanceEnvironment } from '../gitlab/deployment.js';
import type { CloudConnectorProbeResult } from '../gitlab/queries.js';
import { atLeast, type GitLabVersion } from '../gitlab/version.js';

/**
 * Which of GitLab's own health-check results count for this instance. Every result is exported
 * as GitLab reports it; a failure that is a known GitLab false failure, or that tests a feature
 * this instance does not use, is shown with the reason and left out of the probe's verdict
 * (docs/gitlab-compatibility.md, health_check, cites each rule).
 */
export type Verdict = { readonly counted: true } | { readonly counted: false; readonly why: string };

const COUNTED: Verdict = { counted: true };

const V = (major: number, minor: number): GitLabVersion => ({ major, minor, patch: 0, suffix: '' });

/** 17.3 to 17.5: host_probe opened a raw TCPSocket, ignoring HTTP_PROXY (rewritten in 17.6). */
const RAW_TCP_HOST_PROBE = { from: V(17, 3), fixedIn: V(17, 6) };

/** Before 17.10 GitLab's end_to_end_probe could answer 401 on self-hosted setups while Duo worked (issue 517097). */
const SELF_HOSTED_END_TO_END_FIXED_IN = V(17, 10);
const GATEWAY_401 = /returned code 401\b/;

/** Probes of the Agent Platform and its flows: meaningless where the platform is not in use. */
const AGENT_PLATFORM_CHECKS = new Set(['duo_agent_platform_probe', 'allow_flow_execution_probe', 'allow_foundational_flows_probe', 'compatible_runner_probe']);

/** Whether a failed result counts; a passing one always does. */
export function verdictFor(result: CloudConnectorProbeResult, env: InstanceEnvironment): Verdict {
  if (result.success === true) return COUNTED;
  const name = result.name ?? '';
  const version = env.capabilities?.version;
  if (name === 'host_probe' && version && inRange(version, RAW_TCP_HOST_PROBE.from, RAW_TCP_HOST_PROBE.fixedIn)) {
    return {
      counted: false,
      why: "GitLab 17.3-17.5's host_probe opens a plain TCP connection and ignores the HTTP proxy (fixed in 17.6); the exporter's customers_portal and cloud_connector probes test this path through the proxy",
    };
  }
  if (name === 'end_to_end_probe' && env.deployment !== 'cloud' && version && !atLeast(version, SELF_HOSTED_END_TO_END_FIXED_IN) && mentions401(result)) {
    return {
      counted: false,
      why: "GitLab documents a 401 from the AI gateway in its health check on self-hosted setups before 17.10 while Duo works (issue 517097); the exporter's code_suggestions probe tests a real completion",
    };
  }
  if (AGENT_PLATFORM_CHECKS.has(name) && env.agentPlatform.inUse !== true) {
    const use = env.agentPlatform.inUse === false ? 'which is not in use here' : 'and whether it is in use here is unknown';
    return { counted: false, why: `it tests the Duo Agent Platform, ${use} (${env.agentPlatform.why})` };
  }
  return COUNTED;
}

function mentions401(result: CloudConnectorProbeResult): boolean {
  return [result.message ?? '', ...(result.errors ?? [])].some((text) => GATEWAY_401.test(text));
}

function inRange(version: GitLabVersion, from: GitLabVersion, before: GitLabVersion): boolean {
  return atLeast(version, from) && !atLeast(version, before);
}
