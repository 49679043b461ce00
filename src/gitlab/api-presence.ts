import type { InstanceConfig } from '../config/schema.js';
import { ProbeError } from '../core/errors.js';
import { instanceUrl, secretsOf } from './availability.js';
import { header, type ApiResponse } from './request.js';
import { quote } from '../core/redact.js';

/**
 * Whether an answer to `GET /api/v4/metadata` (after the `/api/v4/version` fallback) says that
 * there is no GitLab API at the instance URL, and if so the error that says so. GitLab's API
 * answers JSON, a route it lacks included (Grape's `{"error":"404 Not Found"}`, S
 * `lib/api/api.rb:193,426-427`), and both endpoints exist in every supported release and
 * authenticate first, so a bad token is a 401, never a 404 (S `lib/api/metadata.rb:10,50,67`).
 * So both answering 404, a redirect, or a 2xx that is not JSON (a sign-in page, a portal) mean the
 * URL is wrong: its path (no relative URL root, or the wrong one), or http:// where GitLab
 * redirects to https://. Said first, so that the user does not read "the licence query answered
 * 404" and look at the licence.
 */
export function noGitLabApi(instance: InstanceConfig, res: ApiResponse, tried: string): ProbeError | undefined {
  const api = instanceUrl(instance, '/api/v4');
  const where = `no GitLab API at ${api.origin}${api.pathname}`;
  if (res.status >= 300 && res.status < 400) {
    return new ProbeError('http_status', `${where}: ${res.where} answered ${res.status}${redirect(instance, res)}: check the instance URL`);
  }
  if (res.status === 404) {
    const page = res.json === undefined ? ' with a page, not JSON' : '';
    return new ProbeError('http_status', `${where}: ${tried} answered 404${page}: check the instance URL${pathHint(instance)}`);
  }
  if (res.status >= 200 && res.status < 300 && res.json === undefined) {
    const type = quote(header(res.headers, 'content-type') ?? 'no content type', [], 60);
    return new ProbeError('unexpected_response', `${where}: ${res.where} answered ${res.status} with ${type}, not JSON: check the instance URL${pathHint(instance)}`);
  }
  return undefined;
}

/** Where the redirect goes (scheme, host and path only), and the URL to use when it is GitLab's. */
function redirect(instance: InstanceConfig, res: ApiResponse): string {
  const location = header(res.headers, 'location');
  const target = location === undefined ? undefined : URL.parse(location, instanceUrl(instance, '/api/v4/metadata').href);
  if (!target) return ' without a Location';
  const shown = quote(`${target.origin}${target.pathname}`, secretsOf(instance), 160);
  // The same API path elsewhere (http:// to https://, another host name): that is GitLab's URL.
  const root = /^(.*)\/api\/v4\/(metadata|version)$/.exec(target.pathname)?.[1];
  return root === undefined ? `, a redirect to ${shown}` : `, a redirect to ${shown}; GitLab's external URL is likely ${quote(`${target.origin}${root}`, secretsOf(instance), 160)}`;
}

/** What the URL's path has to do with it: a relative URL root is right only where GitLab has one. */
function pathHint(instance: InstanceConfig): string {
  const base = instanceUrl(instance, '');
  const root = base.pathname.replace(/\/+$/, '');
  return root === ''
    ? ` (a GitLab served under a relative URL root needs it in the URL, e.g. ${base.origin}/gitlab)`
    : ` (the path ${quote(root, secretsOf(instance), 80)} is right only when GitLab is served under that relative URL root)`;
}
