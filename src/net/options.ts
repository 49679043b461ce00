import type { CloudflareRanges } from './cloudflare.js';

export interface ProxySettings {
  /** http:// or https:// proxy URL; credentials in it become Proxy-Authorization: Basic. */
  readonly url: URL;
  /** NO_PROXY entries: host names, `.domain` suffixes, `*`, IPs, CIDRs, optionally with `:port`. */
  readonly noProxy: readonly string[];
}

/** Network settings shared by every probe of one instance. */
export interface NetOptions {
  readonly proxy: ProxySettings | undefined;
  /** Extra trusted CAs (PEM), in addition to Node's bundled store. */
  readonly ca: readonly string[];
  readonly insecureSkipVerify: boolean;
  /** Static resolution, like curl --resolve: `host:port` → address. */
  readonly resolve: ReadonlyMap<string, string>;
  readonly cloudflare: CloudflareRanges;
}
