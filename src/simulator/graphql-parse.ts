/**
 * A small GraphQL query reader: enough of the language to know which fields a client selected
 * (with aliases, arguments, variables and fragments), so the simulator answers with exactly those
 * fields. The `graphql` package is not a dependency; this needs no validation or type system.
 */

export interface Selection {
  readonly alias: string | undefined;
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
  /** Empty for a leaf. */
  readonly selections: readonly Selection[];
  readonly line: number;
  readonly column: number;
}

export interface Operation {
  readonly kind: 'query' | 'mutation' | 'subscription';
  readonly selections: readonly Selection[];
}

export class GraphqlSyntaxError extends Error {}

interface Token {
  readonly kind: 'punct' | 'name' | 'string' | 'number' | 'eof';
  readonly value: string;
  readonly pos: number;
}

const TOKEN = /\s+|,|#[^\n\r]*|"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_]\w*|\.\.\.|[{}()[\]:!$@=|&]/y;
const MAX_DEPTH = 24;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    const pos = TOKEN.lastIndex;
    const match = TOKEN.exec(source);
    if (!match) throw new GraphqlSyntaxError(`Unexpected character at offset ${pos}`);
    const value = match[0];
    const first = value[0]!;
    if (/\s|,|#/.test(first)) continue;
    if (first === '"') tokens.push({ kind: 'string', value: unquote(value), pos });
    else if (/[-\d]/.test(first)) tokens.push({ kind: 'number', value, pos });
    else if (/[A-Za-z_]/.test(first)) tokens.push({ kind: 'name', value, pos });
    else tokens.push({ kind: 'punct', value, pos });
  }
  tokens.push({ kind: 'eof', value: '', pos: source.length });
  return tokens;
}

function unquote(raw: string): string {
  if (raw.startsWith('"""')) return raw.slice(3, -3);
  return JSON.parse(raw) as string;
}

type RawSelection = Selection | { readonly spread: string };

class Parser {
  private index = 0;
  readonly fragments = new Map<string, RawSelection[]>();

  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
    private readonly variables: Readonly<Record<string, unknown>>,
  ) {}

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    const token = this.tokens[this.index]!;
    if (token.kind !== 'eof') this.index += 1;
    return token;
  }

  private at(value: string): boolean {
    const token = this.peek();
    return (token.kind === 'punct' || token.kind === 'name') && token.value === value;
  }

  private expect(value: string): void {
    const token = this.next();
    if (token.value !== value) throw new GraphqlSyntaxError(`Expected "${value}", got "${token.value || 'end of query'}"`);
  }

  private name(): string {
    const token = this.next();
    if (token.kind !== 'name') throw new GraphqlSyntaxError(`Expected a name, got "${token.value || 'end of query'}"`);
    return token.value;
  }

  /** Every definition; returns the operations in order (fragments are kept aside). */
  document(): { kind: Operation['kind']; name: string | undefined; raw: RawSelection[] }[] {
    const operations: { kind: Operation['kind']; name: string | undefined; raw: RawSelection[] }[] = [];
    while (this.peek().kind !== 'eof') {
      if (this.at('{')) {
        operations.push({ kind: 'query', name: undefined, raw: this.selectionSet(0) });
        continue;
      }
      const keyword = this.name();
      if (keyword === 'fragment') {
        const fragmentName = this.name();
        this.expect('on');
        this.name();
        this.directives();
        this.fragments.set(fragmentName, this.selectionSet(0));
        continue;
      }
      if (keyword !== 'query' && keyword !== 'mutation' && keyword !== 'subscription') {
        throw new GraphqlSyntaxError(`Unexpected "${keyword}"`);
      }
      const operationName = this.peek().kind === 'name' ? this.name() : undefined;
      if (this.at('(')) this.skipBalanced('(', ')');
      this.directives();
      operations.push({ kind: keyword, name: operationName, raw: this.selectionSet(0) });
    }
    return operations;
  }

  private skipBalanced(open: string, close: string): void {
    let depth = 0;
    do {
      const token = this.next();
      if (token.kind === 'eof') throw new GraphqlSyntaxError(`Unclosed "${open}"`);
      if (token.kind === 'punct' && token.value === open) depth += 1;
      if (token.kind === 'punct' && token.value === close) depth -= 1;
    } while (depth > 0);
  }

  private directives(): void {
    while (this.at('@')) {
      this.next();
      this.name();
      if (this.at('(')) this.skipBalanced('(', ')');
    }
  }

  private selectionSet(depth: number): RawSelection[] {
    if (depth > MAX_DEPTH) throw new GraphqlSyntaxError('Query is too deep');
    this.expect('{');
    const out: RawSelection[] = [];
    while (!this.at('}')) {
      if (this.peek().kind === 'eof') throw new GraphqlSyntaxError('Unclosed "{"');
      if (this.at('...')) out.push(...this.fragmentPart(depth));
      else out.push(this.field(depth));
    }
    this.expect('}');
    return out;
  }

  private fragmentPart(depth: number): RawSelection[] {
    this.expect('...');
    if (this.at('on')) {
      this.next();
      this.name();
    }
    this.directives();
    if (this.at('{')) return this.selectionSet(depth + 1);
    return [{ spread: this.name() }];
  }

  private field(depth: number): Selection {
    const start = this.peek().pos;
    let name = this.name();
    let alias: string | undefined;
    if (this.at(':')) {
      this.next();
      alias = name;
      name = this.name();
    }
    const args = this.at('(') ? this.arguments() : {};
    this.directives();
    const raw = this.at('{') ? this.selectionSet(depth + 1) : [];
    const { line, column } = this.location(start);
    return { alias, name, args, selections: raw as Selection[], line, column };
  }

  private arguments(): Record<string, unknown> {
    this.expect('(');
    const args: Record<string, unknown> = {};
    while (!this.at(')')) {
      const key = this.name();
      this.expect(':');
      args[key] = this.value(0);
    }
    this.expect(')');
    return args;
  }

  private value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new GraphqlSyntaxError('Value is too deep');
    const token = this.next();
    if (token.kind === 'string') return token.value;
    if (token.kind === 'number') return Number(token.value);
    if (token.kind === 'name') return token.value === 'true' ? true : token.value === 'false' ? false : token.value === 'null' ? null : token.value;
    if (token.value === '$') {
      const name = this.name();
      return Object.hasOwn(this.variables, name) ? this.variables[name] : null;
    }
    if (token.value === '[') {
      const list: unknown[] = [];
      while (!this.at(']')) list.push(this.value(depth + 1));
      this.next();
      return list;
    }
    if (token.value === '{') {
      const object: Record<string, unknown> = {};
      while (!this.at('}')) {
        const key = this.name();
        this.expect(':');
        object[key] = this.value(depth + 1);
      }
      this.next();
      return object;
    }
    throw new GraphqlSyntaxError(`Unexpected "${token.value || 'end of query'}"`);
  }

  private location(pos: number): { line: number; column: number } {
    const before = this.source.slice(0, pos).split(/\r\n|\r|\n/);
    return { line: before.length, column: (before[before.length - 1]?.length ?? 0) + 1 };
  }

  /** Replaces fragment spreads by the fragment's fields, at every level. */
  resolveSpreads(raw: readonly RawSelection[], seen: ReadonlySet<string> = new Set()): Selection[] {
    const out: Selection[] = [];
    for (const item of raw) {
      if ('spread' in item) {
        const fragment = this.fragments.get(item.spread);
        if (!fragment) throw new GraphqlSyntaxError(`Fragment ${item.spread} was used, but not defined`);
        if (seen.has(item.spread)) throw new GraphqlSyntaxError(`Fragment ${item.spread} contains an infinite loop`);
        out.push(...this.resolveSpreads(fragment, new Set([...seen, item.spread])));
      } else {
        out.push({ ...item, selections: this.resolveSpreads(item.selections as RawSelection[], seen) });
      }
    }
    return out;
  }
}

/** Reads the operation to run: the one named `operationName`, else the only (first) one. */
export function parseOperation(source: string, variables: Readonly<Record<string, unknown>> = {}, operationName?: string): Operation {
  const parser = new Parser(source, tokenize(source), variables);
  const operations = parser.document();
  const chosen = operationName ? operations.find((o) => o.name === operationName) : operations[0];
  if (!chosen) throw new GraphqlSyntaxError(operationName ? `No operation named "${operationName}"` : 'No query string was present');
  return { kind: chosen.kind, selections: parser.resolveSpreads(chosen.raw) };
}
