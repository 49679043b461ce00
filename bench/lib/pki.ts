import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueLeaf, type TestCert } from '../../test/helpers/tls.js';

export interface BenchPki {
  /** PEM of the CA both probers trust. */
  readonly caPem: string;
  /** The same CA as a file, for `tls.ca_file` (ours) and `tls_config.ca_file` (blackbox). */
  readonly caFile: string;
  /** Leaf for 127.0.0.1 and localhost, signed by the CA: what every target presents. */
  readonly leaf: TestCert;
  /** A private scratch folder for generated configs; removed by `cleanup`. */
  readonly dir: string;
  cleanup(): void;
}

/** Certificates made for this run (ECDSA P-256, like the simulator's), never read from disk. */
export async function createBenchPki(): Promise<BenchPki> {
  const ca = await createCa('gitlab-duo-exporter bench CA');
  const leaf = await issueLeaf(ca, { dns: ['localhost'], ips: ['127.0.0.1'] });
  const dir = mkdtempSync(join(tmpdir(), 'gitlab-duo-exporter-bench-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.certPem, { mode: 0o600 });
  return { caPem: ca.certPem, caFile, leaf, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
