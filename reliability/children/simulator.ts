/**
 * The simulator in a process of its own, so that the exporter's figures (RSS, heap, event-loop
 * delay, handles) are the exporter's alone. Forked with IPC: it sends the exporter's `instances[]`
 * entry for it once listening, and closes when the parent disconnects or says `stop`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exporterInstanceConfig, startSimulator } from '../../src/simulator/index.js';

const slowDelayMs = Number(process.argv[2] ?? 3000);
const sim = await startSimulator({ slowDelayMs });
const dir = mkdtempSync(join(tmpdir(), 'gde-reliability-sim-'));
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, sim.caPem, { mode: 0o600 });

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
process.on('disconnect', () => void stop());
process.on('message', (message) => {
  if (message === 'stop') void stop();
});
process.send?.({ instance: exporterInstanceConfig(sim, caFile, 'sim'), controlUrl: sim.controlUrl });
