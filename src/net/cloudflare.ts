import ipaddr from 'ipaddr.js';
import { MAX_RANGES_FILE_BYTES, readBoundedFile, readBoundedFileSync } from '../core/files.js';

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

/**
 * Reads and parses the table, synchronously (a plan is built synchronously). Bounded like every
 * file the exporter reads (core/files.ts): a regular file of at most MAX_RANGES_FILE_BYTES, and
 * the open cannot block; the config loader has already checked the file, asynchronously, with
 * loadCloudflareRangesFile. Throws a FileReadError, or an Error naming a bad line.
 */
export function loadCloudflareRanges(file: string | URL = BUNDLED_RANGES_FILE): CloudflareRanges {
  const { text } = readBoundedFileSync(file, MAX_RANGES_FILE_BYTES);
  return parseCloudflareRanges(text, file instanceof URL ? 'bundled' : file);
}

/** The same, asynchronously, for the config loader's check. */
export async function loadCloudflareRangesFile(file: string | URL = BUNDLED_RANGES_FILE): Promise<CloudflareRanges> {
  const { text } = await readBoundedFile(file, { maxBytes: MAX_RANGES_FILE_BYTES });
  return parseCloudflareRanges(text, file instanceof URL ? 'bundled' : file);
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
