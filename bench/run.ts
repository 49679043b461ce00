/**
 * `npm run bench [-- --quick | --only=accuracy,cost,scrape,scale,detection | --render]`: the entry of
 * the compiled bench. The compiled src/ finds package.json, proto/ and data/ relative to itself
 * (version.ts, grpc-health.ts, cloudflare.ts), so they are linked into the build first; only then
 * is anything of src/ loaded (a dynamic import, since static imports would run before the links).
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
