import type { InstanceEnvironment } from '../../gitlab/deployment.js';
import type { Relevance } from '../types.js';

/**
 * Relevance rules shared by several probes (docs/gitlab-compatibility.md, "Deployment profiles").
 * Each answers `undefined` when its rule does not decide, so rules chain with `??`.
 */

/** GitLab's own hosts are not needed by Duo Self-Hosted: its AI gateway and licence are local. */
export function cloudHostsUnused(env: InstanceEnvironment, host: string): Relevance | undefined {
  if (env.deployment !== 'self_hosted') return undefined;
  return { use: 'skip', why: `Duo Self-Hosted (deployment self_hosted: ${env.deploymentWhy}) does not use ${host}` };
}

/**
 * A probe of the Duo Agent Platform: skipped where it is not in use, optional (run and reported,
 * not counted) where GitLab cannot say, undecided (`undefined`) where it is in use.
 */
export function agentPlatformUnused(env: InstanceEnvironment): Relevance | undefined {
  if (env.agentPlatform.inUse === false) return { use: 'skip', why: `the Duo Agent Platform is not in use here: ${env.agentPlatform.why}` };
  if (env.agentPlatform.inUse === undefined) return { use: 'optional', why: `whether the Duo Agent Platform is in use is unknown: ${env.agentPlatform.why}` };
  return undefined;
}

export const REQUIRED: Relevance = { use: 'required' };
