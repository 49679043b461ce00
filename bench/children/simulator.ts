/**
 * The simulator (src/simulator) in a process of its own, so that the exporter's CPU and the
 * simulated GitLab's are counted and pinned apart. Scenarios are switched over IPC.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exporterInstanceConfig, isScenarioName, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { serveRequests } from '../lib/proc.js';

let sim: Simulator | undefined;

serveRequests({
  async start({ dir, base }) {
    sim = await startSimulator({ base: (base ?? {}) as SimulatorOptions['base'] });
    const caFile = join(String(dir), 'simulator-ca.pem');
    writeFileSync(caFile, sim.caPem, { mode: 0o600 });
    return { instance: exporterInstanceConfig(sim, caFile, 'sim'), controlUrl: sim.controlUrl };
  },
  scenario({ name }) {
    if (!sim) throw new Error('not started');
    const scenario = String(name);
    if (!isScenarioName(scenario)) throw new Error(`unknown scenario ${scenario}`);
    sim.setScenario(scenario);
    return sim.scenario();
  },
  async stop() {
    await sim?.close();
    sim = undefined;
    return true;
  },
});
