import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Cloudflare's published edge ranges, parsed once at load. */
export interface CloudflareRanges {
  readonly source: string;
  readonly size: number;
  contains(address: string): boolean;
}

/** The copy shipped with the exporter (data/cloudflare-ranges.txt). */
export const BUNDLED_RANGES_FILE = new URL('../../data/cloudflare-ranges.txt', import.meta.url);

/** No ranges: for calls to GitLab itself, which never look at Cloudflare's. */
export const NO_RANGES: CloudflareRanges = { source: 'none', size: 0, contains: () => false };

export function loadCloudflareRanges(file: string | URL = BUNDLED_RANGES_FILE): CloudflareRanges {
  const text = readFileSync(file, 'utf8');
  const source = file instanceof URL ? 'bundled' : file;
  return parseCloudflareRanges(text, source);
}

/** One CIDR per line; `#` starts a comment. A bad line names its number. */
export function parseCloudflareRanges(text: string, source: string): CloudflareRanges {
  const cidrs: Cidr[] = [];
  text.split('\n').forEach((line, i) => {
    const entry = line.replace(/#.*/, '').trim();
    if (entry === '') return;
    try {
      cidrs.push(ipaddr.parseCIDR(entry));
    } catch {
      throw new Error(`${source}:${i + 1}: "${entry}" is not a CIDR range`);
    }
  });
  if (cidrs.length === 0) throw new Error(`${source}: no CIDR ranges found`);
  return {
    source,
    size: cidrs.length,
    contains(address: string): boolean {
      if (!ipaddr.isValid(address)) return false;
      let parsed = ipaddr.parse(address);
      if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
        parsed = (parsed as ipaddr.IPv6).toIPv4Address();
      }
      return cidrs.some(([range, bits]) => range.kind() === parsed.kind() && parsed.match(range, bits));
    },
  };
}
