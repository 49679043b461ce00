import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';

let ipv6Preference: { readonly value: boolean; readonly at: number } | undefined;

/** The addresses DNS gave, one family first, as getaddrinfo would order them on this host. */
export function orderByFamily(found: readonly string[]): string[] {
  const ipv4 = found.filter((a) => isIP(a) === 4);
  const ipv6 = found.filter((a) => isIP(a) === 6);
  return preferIPv6() ? [...ipv6, ...ipv4] : [...ipv4, ...ipv6];
}

/**
 * getaddrinfo (RFC 6724) lists IPv6 first only where this host has a global IPv6 address; so does
 * this, rechecked every 30 s. Both families are always returned: connectAny tries them in order.
 */
function preferIPv6(): boolean {
  const now = performance.now();
  if (!ipv6Preference || now - ipv6Preference.at > 30_000) {
    const global = Object.values(networkInterfaces()).some((addresses) =>
      (addresses ?? []).some((a) => a.family === 'IPv6' && !a.internal && !/^f[cde]/i.test(a.address)),
    );
    ipv6Preference = { value: global, at: now };
  }
  return ipv6Preference.value;
}
