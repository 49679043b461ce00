import { z } from 'zod';
import { ProbeError } from '../core/errors.js';
import { secretsOf, type Credential } from './availability.js';
import { apiRequest, ensureOk, parseBody, type ApiContext } from './request.js';
import { quote } from '../core/redact.js';

/** GitLab's answer when the caller may not read a field (it is not an HTTP 403). */
export const PERMISSION_ERROR_PREFIX = 'The resource that you are attempting to access does not exist';

const FIELD_MISSING = /^Field '([A-Za-z0-9_]+)' doesn't exist on type '([A-Za-z0-9_]+)'/;

/**
 * A field we select is not in this GitLab's schema: an older version. Still `unexpected_response`,
 * but typed so that a probe can say which version it needs, or fall back to REST.
 */
export class GraphQLFieldMissingError extends ProbeError {
  constructor(
    readonly field: string,
    readonly typeName: string,
  ) {
    super('unexpected_response', `this GitLab's GraphQL schema has no field ${typeName}.${field}`);
  }
}

const graphqlError = z.looseObject({
  message: z.string(),
  extensions: z.looseObject({ code: z.string().optional(), fieldName: z.string().optional(), typeName: z.string().optional() }).optional(),
});
type GraphQLErrorEntry = z.output<typeof graphqlError>;

const envelope = z.looseObject({
  data: z.unknown().optional(),
  errors: z.array(graphqlError).optional(),
});

export interface GraphQLRequest {
  readonly document: string;
  readonly variables?: Record<string, unknown>;
  readonly credential: Credential;
  /** What the data is, for messages: "the current licence". */
  readonly what: string;
}

/**
 * POST /api/graphql. HTTP statuses map like REST; then GraphQL errors: a permission error is
 * `forbidden`, a missing field throws GraphQLFieldMissingError, any other error or data of the
 * wrong shape is `unexpected_response`.
 */
export async function graphqlQuery<S extends z.ZodType>(ctx: ApiContext, req: GraphQLRequest, dataSchema: S): Promise<z.output<S>> {
  const res = await apiRequest(ctx, {
    method: 'POST',
    path: '/api/graphql',
    credential: req.credential,
    json: { query: req.document, variables: req.variables ?? {} },
  });
  ensureOk(res);
  const body = parseBody(res, envelope, 'a GraphQL response');
  const secrets = secretsOf(ctx.instance);
  if (body.errors && body.errors.length > 0) throw classifyErrors(body.errors, req.what, secrets);
  if (body.data === undefined || body.data === null) throw new ProbeError('unexpected_response', `GraphQL returned no data for ${req.what}`);
  const parsed = dataSchema.safeParse(body.data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue && issue.path.length > 0 ? issue.path.join('.') : 'data';
    throw new ProbeError('unexpected_response', `GraphQL returned ${req.what} in an unexpected shape (${path}: ${quote(issue?.message ?? 'invalid', secrets, 120)})`);
  }
  return parsed.data;
}

function classifyErrors(errors: readonly GraphQLErrorEntry[], what: string, secrets: readonly string[]): ProbeError {
  const denied = errors.find((e) => e.message.startsWith(PERMISSION_ERROR_PREFIX));
  if (denied) {
    return new ProbeError('forbidden', `GitLab refused to show ${what} to this token (admin with admin_mode needed): ${quote(denied.message, secrets, 160)}`);
  }
  for (const e of errors) {
    const missing = FIELD_MISSING.exec(e.message);
    if (missing) return new GraphQLFieldMissingError(missing[1]!, missing[2]!);
    if (e.extensions?.code === 'undefinedField' && e.extensions.fieldName && e.extensions.typeName) {
      return new GraphQLFieldMissingError(e.extensions.fieldName, e.extensions.typeName);
    }
  }
  const first = errors.map((e) => e.message).join('; ');
  return new ProbeError('unexpected_response', `GraphQL error for ${what}: ${quote(first, secrets)}`);
}
