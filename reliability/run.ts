/**
 * `npm run reliability [-- --soak-runs=20000] [-- --load-seconds=20] [-- --only=tests,audit,hardening,load,soak]`:
 * issue #6's figures in one summary. The compiled src/ finds package.json, proto/ and data/
 * relative to itself, so they are linked into the build first (as the bench does), and only then
 * is anything of src/ loaded (dynamic imports).
 */
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, REPO_DIR } from './lib/paths.js';

for (const name of ['package.json', 'proto', 'data']) {
  const link = join(BUILD_DIR, name);
  if (!existsSync(link)) symlinkSync(join(REPO_DIR, name), link);
}

const { main } = await import('./main.js');
process.exitCode = await main(process.argv.slice(2));
