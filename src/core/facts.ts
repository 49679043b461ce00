/**
 * Probe fact families of metrics.md. A probe may only emit facts named here, with exactly these
 * labels (beyond `gitlab`, and `probe` where `perProbe` is set). Label values come from closed
 * sets, except `gitlab_duo_tls_peer_info`'s, taken from the peer's certificate: bounded by
 * net/tls-peer.ts (labelText) and to one series per probe, as metrics.md says. Everything that renders facts
 * (metrics, reports, the docs check) iterates this table.
 */
export interface FactFamily {
  readonly help: string;
  /** Whether the series carries the `probe` label. */
  readonly perProbe: boolean;
  readonly labels: readonly string[];
}

export const FACT_FAMILIES = {
  gitlab_duo_http_status_code: { help: 'HTTP status code of the last response (HTTP-based probes).', perProbe: true, labels: [] },
  gitlab_duo_http_version: { help: 'Negotiated HTTP version of the last response: 2 or 1.1.', perProbe: true, labels: [] },
  gitlab_duo_tls_cert_expiry_timestamp_seconds: {
    help: 'Earliest expiry (Unix seconds) in the certificate chain the peer presented.',
    perProbe: true,
    labels: [],
  },
  gitlab_duo_tls_peer_info: {
    help: "The TLS peer's leaf certificate (value 1): subject and issuer CN (at most 64 characters, control characters replaced by ?) and SHA-256 fingerprint.",
    perProbe: true,
    labels: ['subject_cn', 'issuer_cn', 'fingerprint_sha256'],
  },
  gitlab_duo_tls_public_ca: {
    help: "1 if the peer's certificate chain leads to a root of Node's bundled public CA store, 0 if not (a private CA or a TLS-inspecting proxy).",
    perProbe: true,
    labels: [],
  },
  gitlab_duo_cloudflare_addresses: {
    help: "1 if every resolved address of the host is inside Cloudflare's published ranges, 0 if not.",
    perProbe: true,
    labels: [],
  },
  gitlab_duo_grpc_status_code: { help: 'gRPC status code of the health call.', perProbe: true, labels: [] },
  gitlab_duo_grpc_serving_status: {
    help: 'One-hot serving status of the gRPC health call.',
    perProbe: true,
    labels: ['status'],
  },
  gitlab_duo_license_info: { help: 'The current licence: type and plan (value 1).', perProbe: false, labels: ['type', 'plan'] },
  gitlab_duo_license_last_sync_timestamp_seconds: {
    help: 'When the licence last synchronised with customers.gitlab.com (Unix seconds).',
    perProbe: false,
    labels: [],
  },
  gitlab_duo_license_expiry_timestamp_seconds: { help: 'When the licence expires (Unix seconds).', perProbe: false, labels: [] },
  gitlab_duo_health_check_success: { help: "GitLab's own Duo health check: overall success.", perProbe: false, labels: [] },
  gitlab_duo_health_check_probe_success: {
    help: "GitLab's own Duo health check: each of its probe results.",
    perProbe: false,
    labels: ['check', 'target'],
  },
  gitlab_duo_health_check_probe_counted: {
    help: "GitLab's own Duo health check: 1 if the result counts for this instance, 0 for a known GitLab false failure or a feature not in use.",
    perProbe: false,
    labels: ['check', 'target'],
  },
  gitlab_duo_access_catalog_updated_timestamp_seconds: {
    help: 'When the Cloud Connector access catalog was last updated (Unix seconds).',
    perProbe: false,
    labels: [],
  },
  gitlab_duo_access_token_expiry_timestamp_seconds: {
    help: 'When the Cloud Connector service access token expires (Unix seconds).',
    perProbe: false,
    labels: [],
  },
  gitlab_duo_silent_mode_enabled: { help: 'Whether Silent Mode is on (1) or off (0).', perProbe: false, labels: [] },
  gitlab_duo_features_enabled: { help: 'Instance setting duo_features_enabled.', perProbe: false, labels: [] },
  gitlab_duo_availability: {
    help: 'One-hot instance Duo availability: default_on, default_off, never_on.',
    perProbe: false,
    labels: ['availability'],
  },
  gitlab_duo_beta_features_enabled: {
    help: 'Instance setting instance_level_ai_beta_features_enabled (experiment and beta features).',
    perProbe: false,
    labels: [],
  },
  gitlab_duo_agent_platform_enabled: { help: 'Whether the Duo Agent Platform is enabled.', perProbe: false, labels: [] },
  gitlab_duo_composite_identity_enabled: { help: 'Whether composite identity is turned on.', perProbe: false, labels: [] },
  gitlab_duo_gitlab_info: {
    help: 'The GitLab version, revision and edition (value 1).',
    perProbe: false,
    labels: ['version', 'revision', 'edition'],
  },
  gitlab_duo_gitlab_version_supported: {
    help: 'Whether GitLab is at or above the configured minimum version.',
    perProbe: false,
    labels: [],
  },
  gitlab_duo_proxy_env_consistent: {
    help: 'Whether Rails, Workhorse and the exporter use the same proxy settings.',
    perProbe: false,
    labels: [],
  },
  gitlab_duo_token_expiry_timestamp_seconds: {
    help: "When the exporter's own GitLab token (admin, duo_user, agent_platform) stops working (Unix seconds, 00:00 UTC of its expires_at); absent when it never expires.",
    perProbe: false,
    labels: ['token'],
  },
  gitlab_duo_token_scopes_ok: {
    help: "1 if the exporter's own GitLab token has the scopes its probes need, 0 if one is missing (named in the report).",
    perProbe: false,
    labels: ['token'],
  },
  gitlab_duo_agent_platform_token_expiry_timestamp_seconds: {
    help: 'When the Duo Workflow Service token GitLab minted for agent_platform_client expires (Unix seconds, direct_access token_expires_at).',
    perProbe: false,
    labels: [],
  },
} as const satisfies Record<string, FactFamily>;

export type FactName = keyof typeof FACT_FAMILIES;
export const FACT_NAMES = Object.keys(FACT_FAMILIES) as FactName[];
