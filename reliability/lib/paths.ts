import { fileURLToPath } from 'node:url';

/**
 * The reliability scripts run compiled: `tsc -p reliability/tsconfig.json` mirrors reliability/ and
 * the src/ it imports into test-output/reliability-build/ (ignored by git and eslint, like the
 * bench's build). Paths are computed from this file's place there:
 * test-output/reliability-build/reliability/lib/paths.js.
 */
export const BUILD_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const REPO_DIR = fileURLToPath(new URL('../../../../', import.meta.url));

/** A compiled child script of reliability/children/. */
export function childScript(name: string): string {
  return fileURLToPath(new URL(`../children/${name}.js`, import.meta.url));
}
