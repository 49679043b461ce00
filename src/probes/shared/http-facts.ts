import type { TimedResponse } from '../../net/http-request.js';
import type { Recorder } from '../../core/run.js';
import { recordTlsFacts } from './tls-facts.js';

/** The facts every HTTP-based probe exports about the response it got, and its TLS peer's. */
export function recordHttpFacts(record: Recorder, response: TimedResponse): void {
  record.fact('gitlab_duo_http_status_code', response.status);
  record.fact('gitlab_duo_http_version', response.httpVersion === '2' ? 2 : 1.1);
  recordTlsFacts(record, response.connection);
}
