import type { InstanceConfig } from '../config/schema.js';
import type { Secret } from '../config/secret.js';
import { ProbeError } from '../core/errors.js';
import type { Availability, TokenKind } from '../core/run.js';

/** How each token is named in config and what it must be able to do (status page, errors). */
export const TOKEN_DESCRIPTIONS: Readonly<Record<TokenKind, string>> = {
  admin: 'admin_token (read_api + admin_mode)',
  duo_user: 'duo_user_token (ai_features)',
  agent_platform: 'agent_platform_token (api)',
};

export const NO_URL = 'no GitLab URL configured (instances[].url or GITLAB_URL)';

/** A token on its way to a request: which one it is (for messages) and the secret itself. */
export interface Credential {
  readonly kind: TokenKind;
  readonly secret: Secret;
}

export function credential(instance: InstanceConfig, kind: TokenKind): Credential | undefined {
  const secret = tokenOf(instance, kind);
  // Its file could not be read for this run (config/tokens.ts): the run fails before sending anything.
  if (secret?.unreadable !== undefined) throw new ProbeError('auth', secret.unreadable);
  return secret ? { kind, secret } : undefined;
}

/** The configured token of `kind`, if any. */
export function tokenOf(instance: InstanceConfig, kind: TokenKind): Secret | undefined {
  if (kind === 'admin') return instance.adminToken;
  return kind === 'duo_user' ? instance.duoUserToken : instance.agentPlatformToken;
}

/**
 * Every token configured for the instance, revealed, only so that text quoted from GitLab can be
 * scrubbed of them before it reaches a message, a note or a log line.
 */
export function secretsOf(instance: InstanceConfig): string[] {
  return [instance.adminToken, instance.duoUserToken, instance.agentPlatformToken].filter((s): s is Secret => s !== undefined).map((s) => s.reveal());
}

/** Availability of a probe that talks to the instance, with `token` required when given. */
export function needsInstance(instance: InstanceConfig, token?: TokenKind): Availability {
  if (!instance.url) return { enabled: false, why: NO_URL };
  if (token && !credential(instance, token)) return { enabled: false, why: `needs ${TOKEN_DESCRIPTIONS[token]}, which is not configured` };
  return { enabled: true };
}

/** Availability for a probe that can use either token (the admin one first). */
export function needsAnyToken(instance: InstanceConfig): Availability {
  if (!instance.url) return { enabled: false, why: NO_URL };
  if (!instance.adminToken && !instance.duoUserToken) {
    return { enabled: false, why: `needs ${TOKEN_DESCRIPTIONS.admin} or ${TOKEN_DESCRIPTIONS.duo_user}; neither is configured` };
  }
  return { enabled: true };
}

/** The instance URL; probes only run when availability said it is set. */
export function instanceBase(instance: InstanceConfig): URL {
  if (!instance.url) throw new Error('instance.url is not set (availability should have skipped this probe)');
  return new URL(instance.url);
}

/**
 * `path` under the instance URL, keeping a relative URL root (`https://host/gitlab` serves the
 * API at `/gitlab/api/v4/...`). `path` starts with `/` and may carry a query.
 */
export function instanceUrl(instance: InstanceConfig, path: string): URL {
  const base = instanceBase(instance);
  const root = base.pathname.replace(/\/+$/, '');
  return new URL(`${base.origin}${root}${path}`);
}
