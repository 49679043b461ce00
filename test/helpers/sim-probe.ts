import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Plan, PlannedProbe } from '../../src/runner/plan.js';
import type { ProbeResult } from '../../src/runner/result.js';
import { exporterInstanceConfig, startSimulator, type Conditions, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { planInstance, runPlanned } from './probe-harness.js';

/**
 * One simulator for a test file, and a probe planned and run against it as `check` does
 * (detection, plan, one run) through the probe harness. The probe tests for the instance probes
 * share it.
 */

export { silentLogger } from './probe-harness.js';

type InstanceConfig = ReturnType<typeof exporterInstanceConfig>;
type Scenario = Parameters<Simulator['setScenario']>[0];
/** Changes the simulator's exporter config before it is planned (drop a token, set a timeout...). */
export type Shape = (instance: InstanceConfig) => Record<string, unknown>;

export interface SimulatorProbeHarness {
  /** The file's simulator (started in beforeAll). */
  readonly sim: Simulator;
  /** The simulator's CA in a temporary directory, for `tls.ca_file`. */
  readonly caFile: string;
  /** Detects and plans every probe for the simulator's instance. */
  planAll(shape?: Shape): Promise<Plan>;
  /** Detects and plans `probe`. */
  plan(probe: string, shape?: Shape): Promise<PlannedProbe>;
  /** Sets the simulator's base and scenario, plans `probe` (which must be scheduled) and runs it once. */
  run(probe: string, base?: Partial<Conditions>, scenario?: Scenario, shape?: Shape): Promise<ProbeResult>;
}

/** Registers beforeAll/afterAll that start and stop one simulator for the calling test file. */
export function simulatorProbeHarness(prefix: string, options: SimulatorOptions = {}): SimulatorProbeHarness {
  let sim: Simulator | undefined;
  let dir: string | undefined;
  beforeAll(async () => {
    sim = await startSimulator(options);
    dir = mkdtempSync(join(tmpdir(), `gde-${prefix}-`));
    writeFileSync(join(dir, 'ca.pem'), sim.caPem);
  });
  afterAll(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const started = (): Simulator => sim ?? expect.fail('the simulator is started in beforeAll');
  const caFile = (): string => join(dir ?? expect.fail('the directory is made in beforeAll'), 'ca.pem');

  function planAll(shape: Shape = (i) => i): Promise<Plan> {
    return planInstance({ instance: shape(exporterInstanceConfig(started(), caFile(), 'sim')), capabilities: 'detect' });
  }

  async function plan(probe: string, shape?: Shape): Promise<PlannedProbe> {
    const planned = (await planAll(shape)).probes.find((p) => p.probe.name === probe);
    return planned ?? expect.fail(`no probe named ${probe} in the plan`);
  }

  async function run(probe: string, base: Partial<Conditions> = {}, scenario: Scenario = 'healthy', shape?: Shape): Promise<ProbeResult> {
    started().setBase(base);
    started().setScenario(scenario);
    const p = await plan(probe, shape);
    expect(p.skippedBecause).toBeUndefined();
    return runPlanned(p);
  }

  return {
    get sim() {
      return started();
    },
    get caFile() {
      return caFile();
    },
    planAll,
    plan,
    run,
  };
}
