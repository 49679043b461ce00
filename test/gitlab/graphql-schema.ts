/**
 * GitLab's GraphQL types as gitlab-duo-facts.md states them (§1, §2, §4), and a validator for
 * the exporter's own documents: a small parser for operations with variables, arguments and
 * nested selections (no fragments: our documents have none), then a walk against the types.
 */

type TypeRef = string; // GraphQL type notation: `String`, `String!`, `[CloudConnectorProbeResult!]`

export interface FieldDef {
  readonly type: TypeRef;
  readonly args?: Readonly<Record<string, TypeRef>>;
}

export const SCALARS = new Set(['String', 'Boolean', 'Int', 'Float', 'ID', 'Time', 'Date', 'JSON', 'UserID', 'NamespaceID', 'UserState']);

/** Object types and their fields, from the facts file (only what it names). */
export const GITLAB_SCHEMA: Readonly<Record<string, Readonly<Record<string, FieldDef>>>> = {
  Query: {
    cloudConnectorStatus: { type: 'CloudConnectorStatus' },
    currentLicense: { type: 'CurrentLicense' },
    user: { type: 'UserCore', args: { id: 'UserID', username: 'String' } },
    currentUser: { type: 'CurrentUser' },
    metadata: { type: 'Metadata' },
    duoSettings: { type: 'DuoSettings' },
    addOnPurchases: { type: '[AddOnPurchase!]', args: { namespaceId: 'NamespaceID' } },
  },
  CloudConnectorStatus: { success: { type: 'Boolean' }, probeResults: { type: '[CloudConnectorProbeResult!]' } },
  CloudConnectorProbeResult: { name: { type: 'String' }, success: { type: 'Boolean' }, message: { type: 'String' }, errors: { type: '[String!]' }, details: { type: 'JSON' } },
  CurrentLicense: Object.fromEntries(
    [
      ['id', 'ID!'], ['type', 'String!'], ['plan', 'String!'], ['name', 'String'], ['email', 'String'], ['company', 'String'],
      ['startsAt', 'Date'], ['createdAt', 'Date'], ['expiresAt', 'Date'], ['blockChangesAt', 'Date'], ['activatedAt', 'Date'],
      ['lastSync', 'Time'], ['usersInLicenseCount', 'Int'], ['billableUsersCount', 'Int'], ['maximumUserCount', 'Int'],
      ['usersOverLicenseCount', 'Int'], ['trial', 'Boolean'],
    ].map(([name, type]) => [name!, { type: type! }]),
  ),
  UserCore: { id: { type: 'UserID!' }, username: { type: 'String!' }, name: { type: 'String!' }, state: { type: 'UserState!' }, compositeIdentityEnforced: { type: 'Boolean' } },
  CurrentUser: { id: { type: 'UserID!' }, username: { type: 'String!' }, duoCodeSuggestionsAvailable: { type: 'Boolean' }, duoChatAvailable: { type: 'Boolean' } },
  Metadata: { version: { type: 'String!' }, revision: { type: 'String!' }, enterprise: { type: 'Boolean!' } },
  DuoSettings: { aiGatewayUrl: { type: 'String' }, duoAgentPlatformServiceUrl: { type: 'String' }, duoCoreFeaturesEnabled: { type: 'Boolean' }, updatedAt: { type: 'Time' } },
  AddOnPurchase: { id: { type: 'ID!' }, name: { type: 'String!' }, purchasedQuantity: { type: 'Int!' }, assignedQuantity: { type: 'Int!' } },
};

// ---------------------------------------------------------------------------------------------
// Parsing

export interface Field {
  readonly name: string;
  readonly args: Readonly<Record<string, { variable: string } | { literal: string }>>;
  readonly selections: readonly Field[];
}

export interface Operation {
  readonly kind: 'query' | 'mutation';
  readonly name: string | undefined;
  readonly variables: Readonly<Record<string, TypeRef>>;
  readonly selections: readonly Field[];
}

const TOKEN = /\s+|,|#[^\n]*|"(?:[^"\\]|\\.)*"|-?\d+|\$?[A-Za-z_]\w*|[{}()[\]:!=]/gy;

function tokenize(source: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(source);
    if (!match) throw new Error(`unexpected character at ${at}: ${source.slice(at, at + 10)}`);
    if (!/^(\s+|,|#.*)$/.test(match[0])) tokens.push(match[0]);
  }
  return tokens;
}

export function parseOperation(source: string): Operation {
  const tokens = tokenize(source);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const next = (): string => {
    const token = tokens[i++];
    if (token === undefined) throw new Error('unexpected end of document');
    return token;
  };
  const expect = (token: string): void => {
    const got = next();
    if (got !== token) throw new Error(`expected "${token}", got "${got}"`);
  };
  const typeRef = (): string => {
    if (peek() === '[') {
      next();
      const inner = typeRef();
      expect(']');
      return `[${inner}]${peek() === '!' ? next() : ''}`;
    }
    return `${next()}${peek() === '!' ? next() : ''}`;
  };
  const field = (): Field => {
    const name = next();
    if (!/^[A-Za-z_]\w*$/.test(name)) throw new Error(`expected a field name, got "${name}"`);
    if (peek() === ':') throw new Error('aliases are not used in our documents');
    const args: Record<string, { variable: string } | { literal: string }> = {};
    if (peek() === '(') {
      next();
      while (peek() !== ')') {
        const arg = next();
        expect(':');
        const value = next();
        args[arg] = value.startsWith('$') ? { variable: value.slice(1) } : { literal: value };
      }
      next();
    }
    return { name, args, selections: peek() === '{' ? selectionSet() : [] };
  };
  const selectionSet = (): Field[] => {
    expect('{');
    const fields: Field[] = [];
    while (peek() !== '}') fields.push(field());
    next();
    return fields;
  };

  let kind: Operation['kind'] = 'query';
  let name: string | undefined;
  const variables: Record<string, TypeRef> = {};
  if (peek() === 'query' || peek() === 'mutation') {
    kind = next() as Operation['kind'];
    if (peek() !== '{' && peek() !== '(') name = next();
    if (peek() === '(') {
      next();
      while (peek() !== ')') {
        const variable = next();
        if (!variable.startsWith('$')) throw new Error(`expected a variable, got "${variable}"`);
        expect(':');
        variables[variable.slice(1)] = typeRef();
      }
      next();
    }
  }
  const selections = selectionSet();
  if (i !== tokens.length) throw new Error(`trailing tokens after the operation: "${tokens.slice(i).join(' ')}"`);
  return { kind, name, variables, selections };
}

// ---------------------------------------------------------------------------------------------
// Validation

const named = (type: TypeRef): string => type.replace(/[[\]!]/g, '');

/** Every problem with `source` against GITLAB_SCHEMA; empty when the document is valid. */
export function validateDocument(source: string): string[] {
  let op: Operation;
  try {
    op = parseOperation(source);
  } catch (err) {
    return [`syntax: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  if (op.kind !== 'query') problems.push('only queries are expected');
  const used = new Set<string>();
  const walk = (typeName: string, fields: readonly Field[], path: string): void => {
    const type = GITLAB_SCHEMA[typeName];
    if (!type) return void problems.push(`${path}: unknown type ${typeName}`);
    for (const f of fields) {
      const where = `${path}.${f.name}`;
      const def = type[f.name];
      if (!def) {
        problems.push(`${where}: no field ${f.name} on ${typeName}`);
        continue;
      }
      for (const [arg, value] of Object.entries(f.args)) {
        const argType = def.args?.[arg];
        if (!argType) problems.push(`${where}: no argument ${arg}`);
        else if ('variable' in value) {
          used.add(value.variable);
          const declared = op.variables[value.variable];
          if (!declared) problems.push(`${where}: $${value.variable} is not declared`);
          else if (named(declared) !== named(argType)) problems.push(`${where}: $${value.variable} is ${declared}, ${arg} takes ${argType}`);
        }
      }
      const target = named(def.type);
      if (SCALARS.has(target)) {
        if (f.selections.length > 0) problems.push(`${where}: ${target} is a leaf and takes no selection`);
      } else if (f.selections.length === 0) {
        problems.push(`${where}: ${target} needs a selection`);
      } else {
        walk(target, f.selections, where);
      }
    }
  };
  walk('Query', op.selections, 'Query');
  for (const variable of Object.keys(op.variables)) if (!used.has(variable)) problems.push(`$${variable} is declared but not used`);
  return problems;
}
