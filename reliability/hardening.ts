import { measureAuthFlood } from './hardening/auth-flood.js';
import { measureHangingDns } from './hardening/dns.js';
import { measureHostileFiles } from './hardening/files.js';
import type { HardeningFigures } from './lib/hardening.js';

/**
 * Issue #12's measurements, one after the other (each starts its own exporter): the figures
 * docs/reliability.md lists. A measurement that throws is reported as a problem of its own.
 */
export async function runHardening(): Promise<HardeningFigures[]> {
  const measurements: Array<[string, () => Promise<HardeningFigures>]> = [
    ['basic-auth flood', measureAuthFlood],
    ['hanging DNS zone', measureHangingDns],
    ['hostile token, CA and config files', measureHostileFiles],
  ];
  const out: HardeningFigures[] = [];
  for (const [title, measure] of measurements) {
    try {
      out.push(await measure());
    } catch (err) {
      out.push({ title, lines: [], problems: [`the measurement failed: ${err instanceof Error ? err.message : String(err)}`] });
    }
  }
  return out;
}
