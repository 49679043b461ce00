import { fileURLToPath } from 'node:url';

/**
 * The bench runs compiled: `tsc -p bench/tsconfig.json` mirrors the repository (bench/, src/,
 * test/helpers/) into test-output/bench-build/, which git and eslint already ignore. These paths
 * are computed from this file's place in that build: test-output/bench-build/bench/lib/paths.js.
 */
export const BUILD_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const REPO_DIR = fileURLToPath(new URL('../../../../', import.meta.url));

/** A compiled child script of bench/children/. */
export function childScript(name: string): string {
  return fileURLToPath(new URL(`../children/${name}.js`, import.meta.url));
}
