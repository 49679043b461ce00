import type { z } from 'zod';
import { probeNames } from './probe-catalog.js';
import { keysAt, nearestKey } from './suggest.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `instances[0].probes.license.interval`, `resolve["cloud.gitlab.com:443"]` from zod's path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (!IDENTIFIER.test(String(key))) out += `[${JSON.stringify(String(key))}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

/**
 * One line per problem, each naming where it is: the form every config error takes. With the
 * `schema` that was parsed, an unknown key is named by its own path and the nearest known key is
 * suggested (`instances[0].admin_tokn_file: unknown key; did you mean "admin_token_file"?`);
 * without it, the object is named and its unknown keys listed.
 */
export function formatZodIssues(error: z.ZodError, schema?: z.ZodType): string[] {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys' && schema !== undefined ? unknownKeys(issue, schema) : [`${formatPath(issue.path)}: ${describeIssue(issue)}`],
  );
}

/** One line per unknown key, at its own path, with the nearest known key or, failing one, the list. */
function unknownKeys(issue: z.core.$ZodIssueUnrecognizedKeys, schema: z.ZodType): string[] {
  const known = keysAt(schema, issue.path);
  const probes = issue.path.at(-1) === 'probes';
  return issue.keys.map((key) => {
    const near = nearestKey(key, known);
    const hint = near !== undefined ? `; did you mean "${near}"?` : probes ? ` (probes are: ${probeNames().join(', ')})` : known.length > 0 ? ` (known keys here: ${known.join(', ')})` : '';
    return `${formatPath([...issue.path, key])}: unknown key${hint}`;
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return issue.path.at(-1) === 'probes' ? `${keys} (probes are: ${probeNames().join(', ')})` : keys;
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  // zod words type errors "Invalid input: expected boolean, received string"; the path already
  // says where, so keep only the what.
  return issue.message.replace(/^Invalid input: /, '');
}
