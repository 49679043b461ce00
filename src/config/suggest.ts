import type { z } from 'zod';

/**
 * "Did you mean": the known key nearest to an unknown one, and the keys a schema allows at a path.
 * Used for zod's unrecognized_keys issues, which name the unknown keys but not the known ones.
 */

/**
 * Edit distance with adjacent transpositions (optimal string alignment): `admin_tokn_file` is 1
 * from `admin_token_file`, and so is `licnese` from `license`.
 */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = rows[i]!;
      row[j] = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
    }
  }
  return rows[a.length]![b.length]!;
}

// Keys longer than this are no typo of ours (the longest known key has 21 characters); the
// distance table would only cost time.
const MAX_COMPARED_LENGTH = 64;

/**
 * The known key nearest to `unknown`, when it is close: case and `-` for `_` are free (`URL`,
 * `admin-token`), then at most 1 edit for keys up to 4 characters, 2 up to 8, 3 beyond. Ties go
 * to the first in `known` (the schema's order). Undefined when nothing is that close.
 */
export function nearestKey(unknown: string, known: readonly string[]): string | undefined {
  if (unknown.length > MAX_COMPARED_LENGTH) return undefined;
  const normal = (key: string): string => key.toLowerCase().replace(/-/g, '_');
  const wanted = normal(unknown);
  const allowed = wanted.length <= 4 ? 1 : wanted.length <= 8 ? 2 : 3;
  let best: { key: string; distance: number } | undefined;
  for (const key of known) {
    const distance = editDistance(wanted, normal(key));
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { key, distance };
  }
  return best?.key;
}

/** What a zod schema node is made of, as far as the walk below needs it (zod's `_zod.def`). */
interface SchemaDef {
  readonly type: string;
  readonly shape?: Readonly<Record<string, z.ZodType>>;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly keyType?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly entries?: Readonly<Record<string, string>>;
  /** z.lazy's: the schema it stands for (the probe names are read when a config is). */
  readonly getter?: () => z.ZodType;
}

const defOf = (schema: z.ZodType): SchemaDef => (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;

/** Through the wrappers that do not change the shape: default, optional, lazy, a transform's input. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (let def = defOf(current); ; def = defOf(current)) {
    const inner = def.type === 'pipe' ? def.in : def.type === 'lazy' ? def.getter?.() : def.innerType;
    if (inner === undefined) return current;
    current = inner;
  }
}

/**
 * The keys `schema` allows in the object at `path` (zod's issue path), in the schema's order: an
 * object's own keys, or a record's enum keys (the probe names). Empty where the path leads
 * nowhere known.
 */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: z.ZodType | undefined = unwrap(schema);
  for (const step of path) {
    const def = defOf(node);
    if (def.type === 'object') node = def.shape?.[String(step)];
    else if (def.type === 'array') node = def.element;
    else if (def.type === 'record') node = def.valueType;
    else node = undefined;
    if (node === undefined) return [];
    node = unwrap(node);
  }
  const def = defOf(node);
  if (def.type === 'object') return Object.keys(def.shape ?? {});
  if (def.type === 'record' && def.keyType) return Object.values(defOf(unwrap(def.keyType)).entries ?? {});
  return [];
}
