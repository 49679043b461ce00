import type { z } from 'zod';
import { PROBE_NAMES } from '../probes/index.js';

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

/** One line per problem, each naming where it is: the form every config error takes. */
export function formatZodIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue)}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const keys = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return issue.path.at(-1) === 'probes' ? `${keys} (probes are: ${PROBE_NAMES.join(', ')})` : keys;
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  // zod words type errors "Invalid input: expected boolean, received string"; the path already
  // says where, so keep only the what.
  return issue.message.replace(/^Invalid input: /, '');
}
