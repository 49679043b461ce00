import type { TimedResponse } from '../../net/http-request.js';
import type { Recorder } from '../types.js';

/** The facts every HTTP-based probe exports about the response it got. */
export function recordHttpFacts(record: Recorder, response: TimedResponse): void {
  record.fact('gitlab_duo_http_status_code', response.status);
  record.fact('gitlab_duo_http_version', response.httpVersion === '2' ? 2 : 1.1);
  if (response.connection.certExpiry !== undefined) {
    record.fact('gitlab_duo_tls_cert_expiry_timestamp_seconds', response.connection.certExpiry);
  }
}
