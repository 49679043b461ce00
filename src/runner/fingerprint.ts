import { createHash } from 'node:crypto';
import { Secret } from '../config/secret.js';
import type { PlannedProbe } from './plan.js';

/**
 * What a probe's runs depend on, as a digest: its own settings, its instance's config (not the
 * other probes' settings), the network options (not the Cloudflare table, a lookup table applied at
 * the next run) and the detected environment. A reload or re-detection keeps the schedule of every
 * probe whose fingerprint is unchanged (src/runner/scheduler.ts), as Prometheus keeps the scrape
 * loops of unchanged targets; a changed one starts afresh. Tokens count (a new token may fix an
 * `auth` failure) but only as a hash, and the digest is never shown.
 */
export function probeFingerprint(p: PlannedProbe): string {
  const { probeSettings: _others, ...instance } = p.instance;
  const { cloudflare: _table, ...net } = p.net;
  const { capabilities: _detected, deploymentWhy: _why, ...environment } = p.environment;
  const parts = { probe: p.probe.name, settings: p.settings, instance, net, environment, required: p.required };
  return createHash('sha256').update(canonical(parts)).digest('base64');
}

/** JSON with sorted keys, Maps as sorted entries, URLs as text and Secrets as a hash of their value. */
function canonical(value: unknown): string {
  if (value instanceof Secret) return JSON.stringify(`secret:${createHash('sha256').update(value.reveal()).digest('base64')}`);
  if (value instanceof URL) return JSON.stringify(value.href);
  if (value instanceof Map) return canonical(Object.fromEntries([...value.entries()].sort(([a], [b]) => String(a).localeCompare(String(b)))));
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
