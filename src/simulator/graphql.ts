import { GraphqlDocumentError, parseOperation, type Selection } from './graphql-operation.js';
import { cloudConnectorStatus } from './health.js';
import { json, type Reply } from './http-util.js';
import { completionOutcome } from './outcomes.js';
import type { Caller, SimContext, SimUser } from './world.js';
import { ADMIN_USER, DUO_USER, currentLicense, isoTime, serviceAccounts, tokenScopesOf } from './world.js';
import { aiAction } from './chat.js';
import { has } from './release.js';
import { introspectType, schemaFor, type Schema } from './schema.js';

/** GitLab's text for a field the caller may not read; the field is null, the HTTP status 200. */
export const PERMISSION_DENIED = "The resource that you are attempting to access does not exist or you don't have permission to perform this action";

interface GraphqlError {
  message: string;
  locations?: { line: number; column: number }[];
  path?: string[];
  extensions?: Record<string, unknown>;
}

type Resolved = { readonly value: unknown } | { readonly denied: true };
type Resolver = (sel: Selection, caller: Caller, ctx: SimContext, now: number, schema: Schema) => Resolved;

function adminOnly(caller: Caller, value: () => unknown): Resolved {
  return caller.kind === 'user' && caller.user.admin ? { value: value() } : { denied: true };
}

function userObject(user: { id: number; username: string; name: string }, ctx: SimContext, extra: Record<string, unknown> = {}) {
  return {
    __typename: 'UserCore',
    id: `gid://gitlab/User/${user.id}`,
    username: user.username,
    name: user.name,
    state: 'active',
    webUrl: `https://${ctx.endpoints.gitlabHost}/${user.username}`,
    publicEmail: null,
    compositeIdentityEnforced: false,
    ...extra,
  };
}

function findUser(args: Readonly<Record<string, unknown>>, ctx: SimContext) {
  const accounts = serviceAccounts(ctx.conditions()).map((a) => userObject(a, ctx, { compositeIdentityEnforced: a.compositeIdentityEnforced, bot: true, state: a.state }));
  const candidates = [userObject(ADMIN_USER, ctx), userObject(DUO_USER, ctx), ...accounts];
  return candidates.find((u) => u.username === args.username || u.id === args.id) ?? null;
}

const readsApi = (ctx: SimContext, user: SimUser): boolean => tokenScopesOf(ctx.conditions(), user).some((s) => s === 'api' || s === 'read_api');

function currentUser(user: SimUser, ctx: SimContext) {
  // "Available" is about permission (seat, Duo on), not about whether the gateway answers.
  const outcome = completionOutcome(ctx.conditions(), user, 0);
  const available = outcome.kind === 'ok' || !(outcome.headers['x-gitlab-error-origin'] && outcome.status === 401);
  return userObject(user, ctx, { admin: user.admin, duoCodeSuggestionsAvailable: available, duoChatAvailable: available });
}

/** Root fields of `Query` the simulator knows; any other is a validation error, as in GitLab. */
const ROOT: Record<string, Resolver> = {
  __typename: () => ({ value: 'Query' }),
  // 17.3 answered any signed-in user; admins only from 17.4 (status_resolver.rb).
  cloudConnectorStatus: (_sel, caller, ctx, now) =>
    has(ctx.conditions().version, 'healthCheckAdminOnly') || caller.kind !== 'user' ? adminOnly(caller, () => cloudConnectorStatus(ctx, now)) : { value: cloudConnectorStatus(ctx, now) },
  currentLicense: (_sel, caller, ctx, now) => adminOnly(caller, () => currentLicense(ctx.conditions(), now)),
  duoSettings: (_sel, caller, ctx, now) =>
    adminOnly(caller, () => ({
      __typename: 'DuoSettings',
      // Ai::Setting.ai_gateway_url: set for Duo Self-Hosted and hybrid setups.
      aiGatewayUrl: ctx.conditions().deployment === 'cloud' ? null : ctx.endpoints.aiGatewayUrl,
      aiGatewayTimeoutSeconds: 60,
      duoAgentPlatformServiceUrl: null,
      updatedAt: isoTime(now - 7 * 86_400_000),
    })),
  __type: (sel, _caller, _ctx, _now, schema) => ({ value: introspectType(schema, sel.args.name) }),
  metadata: (_sel, caller, ctx) =>
    caller.kind === 'user'
      ? { value: { __typename: 'Metadata', version: ctx.conditions().version, revision: 'abc1234', enterprise: true } }
      : { denied: true },
  // Fields default to the api and read_api scopes; an unauthorized field resolves to null
  // (GitlabSchema.unauthorized_field falls back to graphql-ruby's nil): an ai_features-only token sees no current user.
  currentUser: (_sel, caller, ctx) => ({ value: caller.kind === 'user' && readsApi(ctx, caller.user) ? currentUser(caller.user, ctx) : null }),
  user: (sel, _caller, ctx) => ({ value: findUser(sel.args, ctx) }),
};

function undefinedField(sel: Selection, typeName: string, path: string[]): GraphqlError {
  return {
    message: `Field '${sel.name}' doesn't exist on type '${typeName}'`,
    locations: [{ line: sel.line, column: sel.column }],
    path: [...path, sel.name],
    extensions: { code: 'undefinedField', typeName, fieldName: sel.name },
  };
}

/**
 * Every selected field against the release's schema (schema.ts), at every depth: graphql-ruby
 * refuses the whole document when one field is unknown, and so does this.
 */
function validate(selections: readonly Selection[], typeName: string, schema: Schema, path: string[]): GraphqlError[] {
  const type = schema[typeName] ?? {};
  const errors: GraphqlError[] = [];
  for (const sel of selections) {
    if (sel.name === '__typename') continue;
    const fieldType = Object.hasOwn(type, sel.name) ? type[sel.name] : undefined;
    if (fieldType === undefined || (typeName === 'Query' && !Object.hasOwn(ROOT, sel.name))) {
      errors.push(undefinedField(sel, typeName, path));
      continue;
    }
    if (fieldType !== 'Scalar') errors.push(...validate(sel.selections, fieldType, schema, [...path, sel.alias ?? sel.name]));
  }
  return errors;
}

/** Keeps the selected fields only, under their aliases, like a GraphQL server does. */
function project(value: unknown, selections: readonly Selection[]): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map((item) => project(item, selections));
  if (typeof value !== 'object' || selections.length === 0) return value;
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const sel of selections) out[sel.alias ?? sel.name] = project(Object.hasOwn(source, sel.name) ? source[sel.name] : null, sel.selections);
  return out;
}

/**
 * Shaped like graphql-ruby's ParseError#to_h (message, and where the parser stopped when it knows).
 * A syntax error's text is graphql-js's, not graphql-ruby's: no probe reads it, only its presence.
 */
function documentError(err: GraphqlDocumentError): GraphqlError {
  return err.locations.length > 0 ? { message: err.message, locations: err.locations.map(({ line, column }) => ({ line, column })) } : { message: err.message };
}

function executeOne(request: unknown, caller: Caller, ctx: SimContext, now: number): Record<string, unknown> {
  const { query, variables, operationName } = (request ?? {}) as Record<string, unknown>;
  if (typeof query !== 'string' || query.trim() === '') return { errors: [{ message: 'No query string was present' }] };
  let operation;
  try {
    const vars = typeof variables === 'object' && variables !== null ? (variables as Record<string, unknown>) : {};
    operation = parseOperation(query, vars, typeof operationName === 'string' ? operationName : undefined);
  } catch (err) {
    if (err instanceof GraphqlDocumentError) return { errors: [documentError(err)] };
    throw err;
  }
  if (operation.kind === 'mutation') return executeMutation(operation.selections, caller, ctx);
  // Subscriptions travel over /-/cable (chat.ts), never over POST.
  if (operation.kind !== 'query') return { errors: operation.selections.map((sel) => undefinedField(sel, 'Subscription', [operation.kind])) };
  const schema = schemaFor(ctx.conditions());
  const invalid = validate(operation.selections, 'Query', schema, ['query']);
  if (invalid.length > 0) return { errors: invalid };

  const data: Record<string, unknown> = {};
  const errors: GraphqlError[] = [];
  for (const sel of operation.selections) {
    const key = sel.alias ?? sel.name;
    const resolved = ROOT[sel.name]!(sel, caller, ctx, now, schema);
    if ('denied' in resolved) {
      data[key] = null;
      errors.push({ message: PERMISSION_DENIED, locations: [{ line: sel.line, column: sel.column }], path: [key] });
    } else {
      data[key] = project(resolved.value, sel.selections);
    }
  }
  return errors.length > 0 ? { data, errors } : { data };
}

/**
 * Mutations: `aiAction` only (Duo Chat; chat.ts). An anonymous caller, or a token with neither
 * api nor ai_features (mutation_type.rb: scopes [:api, :ai_features]), may not run it.
 */
function executeMutation(selections: readonly Selection[], caller: Caller, ctx: SimContext): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  const errors: GraphqlError[] = [];
  for (const sel of selections) {
    const key = sel.alias ?? sel.name;
    if (sel.name !== 'aiAction') return { errors: [undefinedField(sel, 'Mutation', ['mutation'])] };
    const allowed = caller.kind === 'user' && tokenScopesOf(ctx.conditions(), caller.user).some((s) => s === 'api' || s === 'ai_features');
    const result = allowed ? aiAction(ctx, caller.user, sel) : { error: PERMISSION_DENIED };
    if ('error' in result) {
      data[key] = null;
      errors.push({ message: result.error, locations: [{ line: sel.line, column: sel.column }], path: [key] });
    } else {
      data[key] = project(result.value, sel.selections);
    }
  }
  return errors.length > 0 ? { data, errors } : { data };
}

/** `POST /api/graphql` (or GET with ?query=); a batch (array) is answered element by element. */
export function executeGraphql(request: unknown, caller: Caller, ctx: SimContext): Reply {
  if (caller.kind === 'invalid') return json(401, { errors: [{ message: 'Invalid token' }] });
  const now = Date.now();
  if (Array.isArray(request)) return json(200, request.slice(0, 10).map((r) => executeOne(r, caller, ctx, now)));
  return json(200, executeOne(request, caller, ctx, now));
}
