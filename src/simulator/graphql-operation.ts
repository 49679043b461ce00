import { GraphQLError, Kind, parse, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode, type ValueNode } from 'graphql';

/**
 * The operation a client asked for, read with graphql-js's parser: the fields it selected (with
 * aliases, arguments, variables and fragments resolved) so the simulator answers with exactly
 * those fields. Validation stays with graphql.ts, which answers in graphql-ruby's words (GitLab's),
 * not graphql-js's.
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

export interface SourceLocation {
  readonly line: number;
  readonly column: number;
}

/** A document the simulator cannot run: a syntax error, an unknown fragment or operation. */
export class GraphqlDocumentError extends Error {
  constructor(
    message: string,
    readonly locations: readonly SourceLocation[] = [],
  ) {
    super(message);
  }
}

/** Deeper selections are refused before resolution walks them. */
const MAX_DEPTH = 24;
/**
 * graphql-js parses recursively: a megabyte of `{a{a{…` would overflow the stack. This bounds the
 * nesting it can reach long before that, and is far above any real client's document.
 */
const MAX_TOKENS = 2000;

type Variables = Readonly<Record<string, unknown>>;

function parseDocument(source: string): DocumentNode {
  try {
    return parse(source, { maxTokens: MAX_TOKENS });
  } catch (err) {
    if (err instanceof GraphQLError) throw new GraphqlDocumentError(err.message, err.locations ?? []);
    throw err;
  }
}

/** A literal as JSON: enums as their name, an unset variable as null (as graphql-ruby reads it). */
function valueOf(node: ValueNode, variables: Variables): unknown {
  switch (node.kind) {
    case Kind.VARIABLE:
      return Object.hasOwn(variables, node.name.value) ? variables[node.name.value] : null;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.STRING:
    case Kind.ENUM:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((item) => valueOf(item, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((field) => [field.name.value, valueOf(field.value, variables)]));
  }
}

class Resolver {
  constructor(
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly variables: Variables,
  ) {}

  /** Fields of a selection set, fragments inlined (their type condition is not checked). */
  selections(set: SelectionSetNode, depth: number, spreading: ReadonlySet<string>): Selection[] {
    if (depth > MAX_DEPTH) throw new GraphqlDocumentError('Query is too deep');
    const out: Selection[] = [];
    for (const node of set.selections) {
      if (node.kind === Kind.INLINE_FRAGMENT) out.push(...this.selections(node.selectionSet, depth, spreading));
      else if (node.kind === Kind.FRAGMENT_SPREAD) out.push(...this.spread(node.name.value, depth, spreading));
      else {
        const start = node.loc!.startToken;
        out.push({
          alias: node.alias?.value,
          name: node.name.value,
          args: Object.fromEntries((node.arguments ?? []).map((arg) => [arg.name.value, valueOf(arg.value, this.variables)])),
          selections: node.selectionSet ? this.selections(node.selectionSet, depth + 1, spreading) : [],
          line: start.line,
          column: start.column,
        });
      }
    }
    return out;
  }

  /** graphql-ruby's texts (FragmentsAreUsed, FragmentsAreFinite) for a missing or cyclic fragment. */
  private spread(name: string, depth: number, spreading: ReadonlySet<string>): Selection[] {
    const fragment = this.fragments.get(name);
    if (!fragment) throw new GraphqlDocumentError(`Fragment ${name} was used, but not defined`);
    if (spreading.has(name)) throw new GraphqlDocumentError(`Fragment ${name} contains an infinite loop`);
    return this.selections(fragment.selectionSet, depth, new Set([...spreading, name]));
  }
}

function chooseOperation(document: DocumentNode, operationName: string | undefined): OperationDefinitionNode {
  const operations: OperationDefinitionNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) operations.push(definition);
    // A type definition parses (graphql-js reads SDL too) but is nothing a server runs.
    else if (definition.kind !== Kind.FRAGMENT_DEFINITION) throw new GraphqlDocumentError(`Unexpected "${definition.loc?.startToken.value ?? definition.kind}"`);
  }
  const chosen = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  if (!chosen) throw new GraphqlDocumentError(operationName ? `No operation named "${operationName}"` : 'No query string was present');
  return chosen;
}

/** Reads the operation to run: the one named `operationName`, else the first one. */
export function parseOperation(source: string, variables: Variables = {}, operationName?: string): Operation {
  const document = parseDocument(source);
  const operation = chooseOperation(document, operationName);
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const selections = new Resolver(fragments, variables).selections(operation.selectionSet, 0, new Set());
  return { kind: operation.operation, selections };
}
