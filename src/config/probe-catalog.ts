/**
 * What the config needs to know of the probes: their names (the keys of `probes:`) and default
 * schedules. The catalog (src/probes/index.ts) registers itself here when it is loaded, as
 * node_exporter's collectors do, so that config/ stays below probes/ and never imports them;
 * everything that reads a config (serve, check, demo, the tests' setup) loads the catalog first.
 */

export interface ProbeScheduleDefaults {
  readonly name: string;
  readonly defaultInterval: string;
  readonly defaultTimeout: string;
}

let registered: readonly ProbeScheduleDefaults[] = [];

/** Called once by the catalog with every probe, in the catalog's order. */
export function registerProbeCatalog(probes: readonly ProbeScheduleDefaults[]): void {
  registered = probes;
}

/** The registered probes; fails loudly when nothing registered (a config read before the catalog loaded). */
export function probeCatalog(): readonly ProbeScheduleDefaults[] {
  if (registered.length === 0) throw new Error('no probe catalog is registered: import src/probes/index.js before reading a config');
  return registered;
}

export function probeNames(): [string, ...string[]] {
  return probeCatalog().map((p) => p.name) as [string, ...string[]];
}
