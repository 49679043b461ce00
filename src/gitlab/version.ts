/** A GitLab version as `/api/v4/metadata` reports it: `18.9.0-pre`, `17.2.1-ee`, `17.10.0`. */
export interface GitLabVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** What follows the numbers without its dash (`ee`, `pre`, `rc1`), or '' when none. */
  readonly suffix: string;
}

const VERSION = /^v?(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[-+]([0-9A-Za-z.+-]{1,32}))?$/;

/** Parses `major.minor[.patch][-suffix]`; undefined for anything else. */
export function parseVersion(text: string): GitLabVersion | undefined {
  const match = VERSION.exec(text.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0), suffix: match[4] ?? '' };
}

/**
 * Compares numbers only. The suffix is ignored on purpose: `-ee` is the edition, and a `-pre`
 * build is a nightly of that very release with its features, so `18.9.0-pre` meets a minimum of
 * 18.9 (semver would rank it lower, which would fail development instances for no reason).
 */
export function compareVersions(a: GitLabVersion, b: GitLabVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

export function atLeast(version: GitLabVersion, minimum: GitLabVersion): boolean {
  return compareVersions(version, minimum) >= 0;
}

export function formatVersion(v: GitLabVersion): string {
  return `${v.major}.${v.minor}.${v.patch}${v.suffix ? `-${v.suffix}` : ''}`;
}

// Suffixes GitLab's own builds carry; anything else is dropped from the label, so the
// `version` label stays a small set and never carries text we did not expect.
const KNOWN_SUFFIX = /^(ee|ce|pre|rc\d{1,2})$/i;

/** The `version` label: numbers plus a known suffix only. */
export function versionLabel(v: GitLabVersion): string {
  const suffix = KNOWN_SUFFIX.test(v.suffix) ? `-${v.suffix.toLowerCase()}` : '';
  return `${v.major}.${v.minor}.${v.patch}${suffix}`;
}

/** The `revision` label: a short git hash, or `unknown`. */
export function revisionLabel(revision: string | undefined): string {
  return revision && /^[0-9a-f]{6,40}$/i.test(revision) ? revision.slice(0, 16).toLowerCase() : 'unknown';
}

/** The edition from the metadata's `enterprise` flag, else from a `-ee` suffix. */
export function editionOf(version: string, enterprise: boolean | undefined): 'ee' | 'ce' {
  if (enterprise !== undefined) return enterprise ? 'ee' : 'ce';
  return /-ee$/i.test(version.trim()) ? 'ee' : 'ce';
}
