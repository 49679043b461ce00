/**
 * What can be told of an instance URL before asking GitLab (docs/gitlab-compatibility.md, "The
 * instance URL"). A path is legitimate (GitLab under a relative URL root, `https://host/gitlab`,
 * nested as deep as one likes), so only paths that are GitLab's own routes are refused: a path
 * starting with `/users` or `/admin`, or holding `/-/` or `/api/v4` anywhere (names GitLab keeps
 * from groups and projects). Any other wrong path is found when the probes ask the API
 * (gitlab/api-presence.ts). Plain `http://` works, but GitLab Duo's clients are meant to use
 * wss:// on port 443, so it is a warning, except on loopback (a test instance, the simulator).
 */

export interface UrlFindings {
  readonly issues: string[];
  readonly warnings: string[];
}

/** `setting` names the URL in messages: `instances[0].url`, or `GITLAB_URL`. */
export function checkInstanceUrl(url: string, setting: string): UrlFindings {
  const parsed = URL.parse(url);
  // The schema refused what does not parse; nothing to add.
  if (!parsed) return { issues: [], warnings: [] };
  const shown = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  const segments = parsed.pathname.split('/').filter((s) => s !== '');
  const route = gitlabRoute(segments);
  const issues =
    route === undefined
      ? []
      : [`${setting}: ${shown} is ${route.what}, not GitLab's external URL; use ${[parsed.origin, ...segments.slice(0, route.at)].join('/')} (the URL users open GitLab at)`];
  const warnings =
    parsed.protocol === 'http:' && !isLoopback(parsed.hostname)
      ? [`${setting}: ${shown} is plain HTTP: GitLab Duo's clients need https (wss:// to /-/cable on port 443, HTTP/2 over TLS); use GitLab's https:// external URL, or the probes fail on GitLab's redirect to it`]
      : [];
  return { issues, warnings };
}

/** Where GitLab's own routes start in the path, and what they are; undefined for none. */
function gitlabRoute(segments: readonly string[]): { readonly at: number; readonly what: string } | undefined {
  for (const [at, segment] of segments.entries()) {
    const name = segment.toLowerCase();
    if (name === 'api' && (at === 0 || ['v4', 'graphql'].includes(segments[at + 1]?.toLowerCase() ?? ''))) return { at, what: "GitLab's API path" };
    if (name === '-') return { at, what: 'a GitLab page' };
    if (at === 0 && (name === 'users' || name === 'admin')) return { at, what: 'a GitLab page' };
  }
  return undefined;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}
