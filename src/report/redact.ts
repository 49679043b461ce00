import { scrub } from '../core/redact.js';
import { secretsOf } from '../gitlab/availability.js';
import type { PlannedProbe } from '../runner/plan.js';
import { visible } from '../text/escape.js';
import { stripUserinfo } from '../text/url.js';

export { displayUrl, stripUserinfo } from '../text/url.js';

export type Scrub = (text: string) => string;

/**
 * Everything a report text must not carry for this planned probe: the instance's tokens, the
 * proxy's credentials, URL userinfo, and raw control characters (shown as visible escapes, so that
 * report.json read with `jq -r` prints no terminal escape either). Probes already keep tokens out of
 * messages; this is the second line, at the one place where text leaves the process for humans.
 */
export function scrubberFor(planned: PlannedProbe): Scrub {
  const secrets = [...secretsOf(planned.instance), ...proxyCredentials(planned)];
  return (text) => visible(scrub(stripUserinfo(text), secrets));
}

function proxyCredentials(planned: PlannedProbe): string[] {
  const urls = [planned.net.proxy?.url, planned.instance.proxy ? safeUrl(planned.instance.proxy.url) : undefined];
  return urls.flatMap((url) => {
    if (!url) return [];
    // Both forms: a message may quote the URL as written or the decoded value.
    return [url.username, url.password, safeDecode(url.username), safeDecode(url.password)].filter((s) => s !== '');
  });
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
