import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Env } from '../core/env.js';
import { ConfigError } from '../core/errors.js';
import type { ProxySettings } from './options.js';

// Lower case first, as curl reads them; HTTP_PROXY is the fallback for every target.
const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] as const;

/**
 * The proxy from the environment, as curl, Go and GitLab's own components read it: HTTPS_PROXY
 * (then HTTP_PROXY) and NO_PROXY, upper or lower case, lower case winning as in curl.
 */
export function proxyFromEnv(env: Env): ProxySettings | undefined {
  const variable = PROXY_VARIABLES.find((name) => env[name]);
  if (!variable) return undefined;
  const raw = env[variable]!;
  let url: URL;
  try {
    url = new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    // Never echo the value: a proxy URL may carry a password (and URL's own error keeps it).
    throw new ConfigError([`${variable}: not a valid proxy URL`], 'environment');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError([`${variable}: ${url.protocol}// proxies are not supported (use an http:// or https:// proxy)`], 'environment');
  }
  const noProxy = (env.no_proxy ?? env.NO_PROXY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return { url, noProxy };
}

/** Whether a connection to host:port should go through the proxy, given NO_PROXY. */
export function shouldProxy(host: string, port: number, proxy: ProxySettings | undefined): proxy is ProxySettings {
  if (!proxy) return false;
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  return !proxy.noProxy.some((entry) => noProxyMatches(entry.toLowerCase(), name, port));
}

function noProxyMatches(entry: string, host: string, port: number): boolean {
  if (entry === '*') return true;
  const [pattern, entryPort] = splitPort(entry);
  if (entryPort !== undefined && entryPort !== port) return false;
  if (pattern.includes('/') && isIP(host)) {
    try {
      const [range, bits] = ipaddr.parseCIDR(pattern);
      const addr = ipaddr.parse(host);
      return addr.kind() === range.kind() && addr.match(range, bits);
    } catch {
      return false;
    }
  }
  const bare = pattern.replace(/^\*?\./, '');
  return host === bare || host.endsWith(`.${bare}`);
}

function splitPort(entry: string): [string, number | undefined] {
  const v6 = /^\[(.+)\](?::(\d+))?$/.exec(entry);
  if (v6) return [v6[1]!, v6[2] === undefined ? undefined : Number(v6[2])];
  const m = /^([^:]+):(\d+)$/.exec(entry);
  return m ? [m[1]!, Number(m[2])] : [entry, undefined];
}

/** The proxy URL without credentials, for logs and reports. */
export function describeProxy(proxy: ProxySettings): string {
  return `${proxy.url.protocol}//${proxy.url.host}`;
}
