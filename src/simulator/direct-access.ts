import { randomBytes } from 'node:crypto';
import { json, type Reply } from './http-util.js';
import { railsDwsError } from './outcomes.js';
import { has } from './release.js';
import { agentPlatformWorks, isoTime, type SimContext, type SimUser } from './world.js';

/** GitLab's OAuth token lives 2 hours (create_oauth_access_token_service.rb); the service's one, 1 hour. */
const OAUTH_TTL_MS = 2 * 3_600_000;
const DWS_TTL_MS = 3_600_000;
// Tokens the simulated service still accepts; the oldest go first, so a long demo stays bounded.
const MAX_MINTED = 1000;

/**
 * `POST /api/v4/ai/duo_workflows/direct_access` (ee/lib/api/ai/duo_workflows/workflows.rb): 404
 * while the Agent Platform's flags are off (up to 18.6) or it is not there; a 400 with Rails'
 * gRPC error when its GenerateToken call fails; else 201 with the service's URL, a token the
 * simulated service accepts (dws.ts), its expiry in Unix seconds and the Cloud Connector headers.
 */
export function directAccess(ctx: SimContext, user: SimUser): Reply {
  const c = ctx.conditions();
  if (!has(c.version, 'listTools') || (!has(c.version, 'agentPlatformSetting') && !agentPlatformWorks(c))) return json(404, { message: '404 Not Found' });
  const error = railsDwsError(c, ctx.endpoints.duoWorkflowService);
  if (error) return json(400, { message: `400 Bad request - ${error}` });
  const now = Date.now();
  const token = `dws-${randomBytes(24).toString('base64url')}`;
  remember(ctx.dwsTokens, token, now + DWS_TTL_MS);
  return json(201, {
    gitlab_rails: { base_url: `https://${ctx.endpoints.gitlabHost}`, token: `oauth-${randomBytes(16).toString('hex')}`, token_expires_at: isoTime(now + OAUTH_TTL_MS) },
    duo_workflow_service: {
      base_url: ctx.endpoints.duoWorkflowService,
      token,
      token_expires_at: Math.floor((now + DWS_TTL_MS) / 1000),
      headers: {
        'x-gitlab-host-name': ctx.endpoints.gitlabHost.replace(/:\d+$/, ''),
        'x-gitlab-instance-id': ctx.instanceId,
        'x-gitlab-realm': 'self-managed',
        'x-gitlab-version': c.version.replace(/-ee$/, ''),
        'x-gitlab-global-user-id': `global-${user.id}`,
        'x-gitlab-user-id': String(user.id),
        'x-gitlab-feature-enabled-by-namespace-ids': '',
      },
      secure: true,
    },
    duo_workflow_executor: { executor_binary_url: 'https://gitlab.com/api/v4/projects/58711783/packages/generic/duo-workflow-executor/0.0.1/duo-workflow-executor.tar.gz', version: '0.0.1' },
    workflow_metadata: { extended_logging: false, is_team_member: false },
  });
}

function remember(tokens: Map<string, number>, token: string, expiresAt: number): void {
  tokens.set(token, expiresAt);
  for (const old of tokens.keys()) {
    if (tokens.size <= MAX_MINTED) break;
    tokens.delete(old);
  }
}
