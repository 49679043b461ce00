import type { FailureReason } from '../../src/core/errors.js';
import type { ScenarioName } from '../../src/simulator/index.js';

/**
 * Why each simulator scenario's probes fail, from the exporter's side: the simulator's table says
 * which probes fail, this one says with which reason. Shared by the scenario test (the default
 * release) and the release matrix.
 */
export type Expected = FailureReason | readonly FailureReason[];

// A front that resets right after accept: whether the RST lands while the TCP connect is still
// being reported or during the TLS handshake is a matter of scheduling, so both are right.
export const RESET: Expected = ['connect', 'tls'];

export const EXPECTED: Record<ScenarioName, Partial<Record<string, Expected>>> = {
  healthy: {},
  silent_mode_on: { instance_settings: 'requirement_not_met', health_check: 'requirement_not_met', code_suggestions: 'http_status' },
  offline_license: { license: 'requirement_not_met', health_check: 'requirement_not_met' },
  legacy_license: { license: 'requirement_not_met', health_check: 'requirement_not_met' },
  sync_stale: { license: 'requirement_not_met', health_check: 'requirement_not_met' },
  token_expired: { health_check: 'requirement_not_met', code_suggestions: 'auth', duo_workflow_tools: 'grpc', agent_platform_client: 'http_status' },
  composite_identity_off: { composite_identity: 'requirement_not_met' },
  composite_identity_turned_off: { composite_identity: 'requirement_not_met' },
  admin_token_without_admin_mode: { instance_settings: 'forbidden', composite_identity: 'forbidden', exporter_tokens: 'requirement_not_met' },
  duo_token_without_read_api: { duo_workflow_tools: 'forbidden', duo_chat: 'forbidden', exporter_tokens: 'requirement_not_met' },
  // Expiring is not failing: the token still works, the alert on its expiry fact warns.
  token_expiring: {},
  token_scope_missing: { code_suggestions: 'forbidden', duo_chat: 'forbidden', exporter_tokens: 'requirement_not_met' },
  version_too_old: { version: 'requirement_not_met' },
  duo_never_on: { instance_settings: 'requirement_not_met', code_suggestions: 'auth', health_check: 'requirement_not_met' },
  code_suggestions_unauthorized: { code_suggestions: 'auth' },
  code_suggestions_no_default_group: { code_suggestions: 'requirement_not_met' },
  code_suggestions_gateway_unreachable: { code_suggestions: 'http_status' },
  code_suggestions_rate_limited: { code_suggestions: 'rate_limited' },
  // The simulator's gateway answers after SLOW_DELAY_MS; code_suggestions gets less time than that.
  code_suggestions_slow: { code_suggestions: 'timeout', health_check: 'requirement_not_met' },
  cable_upgrade_stripped: { websocket_cable: 'websocket_upgrade', duo_chat: 'websocket_upgrade' },
  cable_bad_origin: { websocket_cable: 'websocket_upgrade', duo_chat: 'websocket_upgrade' },
  // The stream never starts after the mutation is accepted: its own message under websocket_protocol.
  chat_stream_buffered: { duo_chat: 'websocket_protocol' },
  chat_no_seat: { duo_chat: 'forbidden' },
  http2_downgraded: { instance_http2: 'http2_not_negotiated' },
  customers_portal_down: { customers_portal: RESET, health_check: 'requirement_not_met' },
  cloud_connector_down: { cloud_connector: RESET, health_check: 'requirement_not_met', code_suggestions: 'http_status' },
  dws_no_h2: { duo_workflow_service: 'http2_not_negotiated', duo_workflow_tools: 'grpc', agent_platform_client: 'http_status', health_check: 'requirement_not_met' },
  dws_token_rejected: { agent_platform_client: 'grpc' },
  ai_gateway_not_ready: {},
  ai_gateway_down: { ai_gateway: RESET },
  health_check_failing: { health_check: 'requirement_not_met' },
};

