import type { IncomingHttpHeaders } from 'node:http';
import type { z } from 'zod';
import type { InstanceConfig } from '../config/schema.js';
import { ProbeError, type FailureReason } from '../core/errors.js';
import type { ConnectContext } from '../net/connect.js';
import { REQUEST_REASONS, timedRequest } from '../net/http-request.js';
import type { Phase, Recorder } from '../core/run.js';
import { instanceUrl, secretsOf, type Credential } from './availability.js';
import { extractGitLabMessage, statusError } from './errors.js';
import { quote } from '../core/redact.js';

/** The phases of a probe that calls the GitLab API (see `apiRecorder` for why `api`). */
export const API_PHASES: readonly Phase[] = ['dns', 'connect', 'proxy_connect', 'tls', 'api'];

/**
 * What a probe calling the GitLab API fails with, besides `timeout`: the request's reasons, a
 * status mapped by statusError (`auth`, `forbidden`, `rate_limited`, `http_status`), a body of the
 * wrong shape or a GraphQL error (`unexpected_response`, `forbidden`), and `auth` again when its
 * token file cannot be read for the run (credential()).
 */
export const API_REASONS = [...REQUEST_REASONS, 'auth', 'forbidden', 'rate_limited', 'http_status'] as const satisfies readonly FailureReason[];

// GitLab's JSON answers to our calls are a few KiB (application/settings is the largest, ~20 KiB).
export const MAX_API_BODY_BYTES = 1024 * 1024;

export interface ApiContext extends ConnectContext {
  readonly instance: InstanceConfig;
}

export interface ApiRequest {
  readonly method: 'GET' | 'POST';
  /** Under the instance URL, e.g. `/api/v4/metadata`; may carry a query. */
  readonly path: string;
  readonly credential: Credential | undefined;
  readonly json?: unknown;
}

/** An answer from GitLab, not yet judged: the probe decides what each status means for it. */
export interface ApiResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The parsed body when it was JSON, else undefined. */
  readonly json: unknown;
  readonly httpVersion: '2' | '1.1';
  readonly certExpiry: number | undefined;
  /** `GET /api/v4/metadata`, for messages (no query, no host: those can carry user input). */
  readonly where: string;
  readonly credential: Credential | undefined;
  /** GitLab's explanation from an error body, quoted and scrubbed; '' if none. */
  readonly gitlabMessage: string;
}

/**
 * One call to the instance API over `timedRequest`, so the proxy, CA, `resolve` pins and the
 * run's signal apply. The token goes out as `Authorization: Bearer`, the only place it is revealed.
 */
export async function apiRequest(ctx: ApiContext, req: ApiRequest): Promise<ApiResponse> {
  const url = instanceUrl(ctx.instance, req.path);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (req.credential) headers.authorization = `Bearer ${req.credential.secret.reveal()}`;
  if (req.json !== undefined) headers['content-type'] = 'application/json';
  const response = await timedRequest(
    {
      url,
      method: req.method,
      headers,
      body: req.json === undefined ? undefined : JSON.stringify(req.json),
      maxBodyBytes: MAX_API_BODY_BYTES,
    },
    { net: ctx.net, signal: ctx.signal, record: apiRecorder(ctx.record) },
  );
  const json = parseJson(response.body, response.headers['content-type']);
  const secrets = secretsOf(ctx.instance);
  return {
    status: response.status,
    headers: response.headers,
    json,
    httpVersion: response.httpVersion,
    certExpiry: response.connection.certExpiry,
    where: `${req.method} ${url.pathname}`,
    credential: req.credential,
    gitlabMessage: response.status >= 400 ? extractGitLabMessage(json, secrets) : '',
  };
}

/**
 * Instance-API probes time the exchange as one `api` phase (request sent → last byte read), not
 * as first_byte + transfer: for small JSON answers the split says nothing, while `api` is the
 * time GitLab took, including what it did upstream (the health check's own probes, Workhorse's
 * call to the AI gateway). The connection phases stay separate, so "network to GitLab is slow"
 * and "GitLab is slow" remain distinguishable. Several calls in one run add up.
 */
export function apiRecorder(record: Recorder): Recorder {
  const map = (phase: Phase): Phase => (phase === 'first_byte' || phase === 'transfer' ? 'api' : phase);
  return {
    phase: (phase, fn) => record.phase(map(phase), fn),
    addPhase: (phase, seconds) => record.addPhase(map(phase), seconds),
    fact: (name, value, labels) => record.fact(name, value, labels),
    note: (text) => record.note(text),
  };
}

function parseJson(body: Buffer, contentType: string | string[] | undefined): unknown {
  const type = Array.isArray(contentType) ? contentType[0] : contentType;
  const text = body.toString('utf8');
  // GitLab sometimes omits the content type on errors; a body that parses as JSON is JSON.
  if (type !== undefined && !/json/i.test(type) && !/^\s*[{[]/.test(text)) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Throws the mapped error unless the answer is 2xx. */
export function ensureOk(res: ApiResponse, hint?: string): void {
  if (res.status >= 200 && res.status < 300) return;
  throw statusError({ ...res, retryAfter: header(res.headers, 'retry-after') }, hint);
}

/** The mapped error for a non-2xx answer, for probes that handle some statuses themselves. */
export function errorFor(res: ApiResponse, hint?: string): ProbeError {
  return statusError({ ...res, retryAfter: header(res.headers, 'retry-after') }, hint);
}

/** Validates the body against `schema`; a body of another shape is `unexpected_response`. */
export function parseBody<S extends z.ZodType>(res: ApiResponse, schema: S, what: string, secrets: readonly string[] = []): z.output<S> {
  if (res.json === undefined) throw new ProbeError('unexpected_response', `${res.where} answered ${res.status} without a JSON body (${what} expected)`);
  const parsed = schema.safeParse(res.json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new ProbeError('unexpected_response', `${res.where}: the answer is not ${what} (${path}: ${quote(issue?.message ?? 'invalid', secrets, 120)})`);
  }
  return parsed.data;
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
