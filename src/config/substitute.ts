import type { Env } from '../core/env.js';

// `${NAME}` or `${NAME:-default}`; the default is literal text up to the first `}` (no nesting).
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
// A value that is nothing but a reference with an empty default.
const ONLY_EMPTY_DEFAULT = /^\$\{[A-Za-z_][A-Za-z0-9_]*:-\}$/;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string value of a parsed YAML document. Keys
 * are left alone. `${VAR}` with VAR unset is reported with the path of the value that names it;
 * `${VAR:-default}` takes the default when VAR is unset or empty, as the shell does. A mapping
 * value that is only `${VAR:-}` and comes out empty is left out, as if the key were not written:
 * so `admin_token: ${GITLAB_ADMIN_TOKEN:-}` sets a token only where the variable is set, as an
 * empty GITLAB_ADMIN_TOKEN counts as unset in environment-only mode. Every value put in (a default
 * too) is added to `inserted` (name, value), so that error messages can be kept free of the secret
 * ones (variables are where tokens come from).
 */
export function substituteEnv(value: unknown, env: Env, path: string, issues: string[], inserted: Array<[string, string]> = []): unknown {
  if (typeof value === 'string') return substituteString(value, env, path, issues, inserted);
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${path}[${i}]`, issues, inserted));
  if (value !== null && typeof value === 'object') {
    const entries: Array<[string, unknown]> = [];
    for (const [key, item] of Object.entries(value)) {
      const out = substituteEnv(item, env, path ? `${path}.${key}` : key, issues, inserted);
      if (!(out === '' && typeof item === 'string' && ONLY_EMPTY_DEFAULT.test(item))) entries.push([key, out]);
    }
    return Object.fromEntries(entries);
  }
  return value;
}

function substituteString(text: string, env: Env, path: string, issues: string[], inserted: Array<[string, string]>): string {
  return text.replace(REFERENCE, (_match, name: string, fallback: string | undefined) => {
    const set = env[name];
    if (fallback !== undefined) {
      const replacement = set === undefined || set === '' ? fallback : set;
      inserted.push([name, replacement]);
      return replacement;
    }
    if (set === undefined) {
      issues.push(`${path || '(root)'}: environment variable ${name} is not set`);
      return '';
    }
    inserted.push([name, set]);
    return set;
  });
}
