const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Replaces `${VAR}` in every string value of a parsed YAML document. Keys are left alone. An unset
 * variable is reported with the path of the value that names it; nothing is substituted silently.
 * Every variable put in is added to `inserted` (name, value), so that error messages can be kept
 * free of the secret ones (variables are where tokens come from).
 */
export function substituteEnv(value: unknown, env: Env, path: string, issues: string[], inserted: Array<[string, string]> = []): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (_match, name: string) => {
      const replacement = env[name];
      if (replacement === undefined) {
        issues.push(`${path || '(root)'}: environment variable ${name} is not set`);
        return '';
      }
      inserted.push([name, replacement]);
      return replacement;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${path}[${i}]`, issues, inserted));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteEnv(item, env, path ? `${path}.${key}` : key, issues, inserted)]),
    );
  }
  return value;
}
