/**
 * Plain words for the report, the status page and `check --format text`: what a failure reason
 * means, what to do about a probe's failure, and what would enable a skipped probe. Pure data and
 * functions, so every renderer says the same thing.
 */
import type { FailureReason } from '../core/errors.js';
import { NO_URL, tokenOf } from '../gitlab/availability.js';
import type { TokenKind } from '../core/run.js';
import { findProbe } from '../probes/index.js';
import type { PlannedProbe } from '../runner/plan.js';
import { fixFor } from './fixes.js';

/** One sentence per failure reason. A Record, so a new reason does not compile without its sentence. */
export const REASON_SENTENCES: Readonly<Record<FailureReason, string>> = {
  dns: 'The host name did not resolve: DNS gave no address for it from the exporter\u2019s host.',
  connect: 'The TCP connection was refused or reset: a firewall blocks it, or nothing listens on that port.',
  timeout: 'No answer before the deadline: packets are probably dropped by a firewall, or a proxy or the server is too slow.',
  tls: 'The TLS handshake failed: certificate expired, untrusted or for another name (often a TLS-inspecting proxy).',
  proxy: 'The HTTP proxy refused the CONNECT tunnel or answered with an error.',
  http_status: 'The server answered with an HTTP status this probe does not accept.',
  http2_not_negotiated: 'HTTP/2 was not negotiated: the TLS handshake (ALPN) settled on HTTP/1.1, so something in the path downgrades it.',
  grpc: 'The gRPC call failed below the application: no gRPC answer came back.',
  websocket_upgrade: 'The server did not accept the WebSocket upgrade (no 101 Switching Protocols).',
  websocket_protocol: 'The WebSocket opened, but the Action Cable exchange went wrong (no welcome message).',
  auth: 'The token was refused: unknown, expired, revoked or missing a scope.',
  forbidden: 'The token is valid but not allowed here: not an administrator, no GitLab Duo seat, or Admin Mode without the admin_mode scope.',
  rate_limited: 'GitLab answered 429 Too Many Requests: a rate limit was hit.',
  unexpected_response: 'The request worked, but the answer was not what the probe expects.',
  requirement_not_met: 'GitLab answered and says a requirement of GitLab Duo is not met (a setting, the licence or the version).',
  internal: 'An error inside the exporter itself (a bug): please report it with the debug log.',
};

export function explainReason(reason: FailureReason): string {
  return REASON_SENTENCES[reason];
}

/** What each token must be, in the words of the brief an administrator gets. */
export const TOKEN_ADVICE: Readonly<Record<TokenKind, string>> = {
  admin: 'an admin token with read_api + admin_mode',
  duo_user: 'a Duo-seated user\u2019s token with ai_features + read_api',
  agent_platform: 'a token with the api scope of a user who may use the Duo Agent Platform (it may be the Duo user\u2019s token if that one has api)',
};

/** Where each token goes in the config (config.md), for the enabling hint. */
const TOKEN_SETTING: Readonly<Record<TokenKind, string>> = {
  admin: 'admin_token, admin_token_file or GITLAB_ADMIN_TOKEN',
  duo_user: 'duo_user_token, duo_user_token_file or GITLAB_DUO_TOKEN',
  agent_platform: 'agent_platform_token, agent_platform_token_file or GITLAB_AGENT_PLATFORM_TOKEN',
};

/**
 * For a skipped probe, the setting or token that would enable it. Decided from the plan's inputs
 * (settings, URL, tokens), not by parsing `skippedBecause`, so new wording there cannot break it.
 */
export function enablingHint(planned: PlannedProbe): string | undefined {
  if (planned.skippedBecause === undefined) return undefined;
  const { probe, instance } = planned;
  if (!planned.settings.enabled) return `Set probes.${probe.name}.enabled: true (the config turns it off).`;
  const missingToken = probe.token !== undefined && tokenMissing(planned, probe.token);
  const token = probe.token && missingToken ? `Configure ${TOKEN_ADVICE[probe.token]} (${TOKEN_SETTING[probe.token]}).` : undefined;
  if (planned.skippedBecause === NO_URL || !instance.url) {
    const url = 'Set the instance URL (instances[].url or GITLAB_URL).';
    return token && probe.token ? `${url} ${token}` : url;
  }
  return token ?? probe.enablingHint ?? planned.skippedBecause;
}

function tokenMissing(planned: PlannedProbe, kind: TokenKind): boolean {
  return tokenOf(planned.instance, kind) === undefined;
}

/** Where the project's documents live; the same base the alert rules' runbook_url use. */
export const DOCS_BASE_URL = 'https://github.com/gitlab-duo-exporter/gitlab-duo-exporter/blob/main/docs/';

export interface DocLink {
  /** Repository-relative path with anchor, e.g. docs/probes.md#license. */
  readonly path: string;
  readonly url: string;
}

export interface Fix {
  /** One or two sentences: what to do. */
  readonly advice: string;
  /** The probe's section of docs/probes.md. */
  readonly docs: DocLink;
  /** The runbook section of the alert that fires for this failure, where there is one. */
  readonly runbook?: DocLink & { readonly alert: string };
}

const docLink = (file: string, anchor: string): DocLink => ({ path: `docs/${file}#${anchor}`, url: `${DOCS_BASE_URL}${file}#${anchor}` });

/** The runbook section of an alert. */
export function runbookLink(alert: string): DocLink & { readonly alert: string } {
  return { alert, ...docLink('runbook.md', alert.toLowerCase()) };
}

/**
 * The fix for a failing probe; `reason` undefined gives the probe's general advice. The runbook is
 * the probe's alert for the reason (its `alerts`, alerts/gitlab-duo.rules.yml).
 */
export function fixAdvice(probe: string, reason: FailureReason | undefined, token?: TokenKind): Fix {
  const alerts = findProbe(probe)?.alerts;
  const alert = (reason && alerts?.byReason?.[reason]) ?? alerts?.failing;
  return {
    advice: fixFor(probe, reason, token),
    docs: docLink('probes.md', probe),
    ...(alert ? { runbook: runbookLink(alert) } : {}),
  };
}
