import { describe, expect, it } from 'vitest';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { EXPORTER_PROBES } from '../../src/simulator/index.js';

/**
 * The simulator is a fake GitLab that stands alone (test/architecture/layers.test.ts): it may not
 * import the catalog, so its scenario table keeps its own list of the exporter's probe names. This
 * holds that list to the catalog, so that a probe added, renamed or removed fails here first.
 */
describe('the simulator’s list of the exporter’s probes', () => {
  it('is the catalog’s, in the catalog’s order', () => {
    expect([...EXPORTER_PROBES]).toEqual(PROBE_NAMES);
  });
});
