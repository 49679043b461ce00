import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels above src/core/ and dist/core/). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The source revision, written into dist/revision.json by the build (scripts/revision.mjs):
 * `unknown` when the build could not tell, or when the file is missing or unreadable. The path
 * reads the same from dist/core/ and from src/core/ (tests), both two levels below the package.
 */
export const REVISION: string = readRevision(new URL('../../dist/revision.json', import.meta.url));

export function readRevision(file: URL): string {
  try {
    const { revision } = JSON.parse(readFileSync(file, 'utf8')) as { revision?: unknown };
    return typeof revision === 'string' && /^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$/.test(revision) ? revision : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** What `--version` prints, laid out like the Prometheus tools' own `--version`. */
export function versionText(): string {
  return [`gitlab-duo-exporter, version ${VERSION} (revision: ${REVISION})`, `  node version:     ${process.version}`, `  platform:         ${process.platform}/${process.arch}`].join('\n');
}
