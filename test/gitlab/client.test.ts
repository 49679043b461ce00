import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { credential } from '../../src/gitlab/availability.js';
import { GraphQLFieldMissingError, graphqlQuery } from '../../src/gitlab/graphql-client.js';
import { apiRequest, ensureOk, MAX_API_BODY_BYTES, parseBody } from '../../src/gitlab/request.js';
import { getMetadata } from '../../src/gitlab/rest.js';
import { ProbeError } from '../../src/core/errors.js';
import { failure } from '../helpers/failure.js';
import { ADMIN_TOKEN, json, startFakeGitLab, type FakeReply } from '../helpers/fake-gitlab.js';
import { apiContext } from '../helpers/instance-probe.js';

/** The REST/GraphQL client against a real HTTPS server on 127.0.0.1 (through a `resolve:` pin). */


describe('REST calls', () => {
  it('sends the token as Bearer, under a relative URL root, and times the exchange as `api`', async () => {
    const server = await startFakeGitLab(() => json(200, { version: '18.9.0-ee', revision: 'abc1234', enterprise: true }));
    const { ctx, record } = await apiContext({ port: server.port, urlPath: '/gitlab' });
    const metadata = await getMetadata(ctx, credential(ctx.instance, 'admin')!);
    expect(metadata.version).toBe('18.9.0-ee');
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /gitlab/api/v4/metadata']);
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${ADMIN_TOKEN}`);
    expect(record.phases.get('api')).toBeGreaterThan(0);
    expect(record.phases.has('first_byte')).toBe(false);
    expect(record.phases.get('tls')).toBeGreaterThan(0);
  });

  it('falls back to /api/v4/version when /metadata is missing', async () => {
    const server = await startFakeGitLab((req) => (req.path.endsWith('/version') ? json(200, { version: '15.1.0', revision: 'abc1234' }) : json(404, { error: '404 Not Found' })));
    const { ctx } = await apiContext({ port: server.port });
    expect((await getMetadata(ctx, credential(ctx.instance, 'admin')!)).version).toBe('15.1.0');
    expect(server.requests.map((r) => r.path)).toEqual(['/api/v4/metadata', '/api/v4/version']);
  });

  it.each<[string, FakeReply, string, number | undefined]>([
    ['401', json(401, { message: '401 Unauthorized' }), 'auth', undefined],
    ['403', json(403, { message: '403 Forbidden' }), 'forbidden', undefined],
    ['429 with seconds', json(429, { message: 'Retry later' }, { 'retry-after': '17' }), 'rate_limited', 17],
    ['429 with an HTTP date', json(429, {}, { 'retry-after': new Date(Date.now() + 90_000).toUTCString() }), 'rate_limited', 90],
    ['500', { status: 500, text: 'Internal Server Error' }, 'http_status', undefined],
    ['503 HTML', { status: 503, text: '<html>down</html>', headers: { 'content-type': 'text/html' } }, 'http_status', undefined],
  ])('%s → %s', async (_name, reply, reason, retryAfter) => {
    const server = await startFakeGitLab(() => reply);
    const { ctx } = await apiContext({ port: server.port });
    const err = await failure(getMetadata(ctx, credential(ctx.instance, 'admin')!));
    expect(err.reason).toBe(reason);
    if (retryAfter !== undefined) expect(err.retryAfterSeconds).toBeGreaterThanOrEqual(retryAfter - 2);
    expect(err.message).not.toContain(ADMIN_TOKEN);
  });

  it.each<[string, FakeReply]>([
    ['not JSON', { status: 200, text: 'hello' }],
    ['JSON of another shape', json(200, { versions: ['18'] })],
    ['an empty version', json(200, { version: '' })],
  ])('a 200 with %s is unexpected_response', async (_name, reply) => {
    const server = await startFakeGitLab(() => reply);
    const { ctx } = await apiContext({ port: server.port });
    expect((await failure(getMetadata(ctx, credential(ctx.instance, 'admin')!))).reason).toBe('unexpected_response');
  });

  it('refuses a body over the cap', async () => {
    const server = await startFakeGitLab(() => ({ status: 200, text: 'x'.repeat(MAX_API_BODY_BYTES + 10) }));
    const { ctx } = await apiContext({ port: server.port });
    const err = await failure(apiRequest(ctx, { method: 'GET', path: '/api/v4/metadata', credential: undefined }));
    expect(err.reason).toBe('unexpected_response');
    expect(err.message).toContain('exceeds');
  });

  it('ends a stalled answer at the deadline', async () => {
    const server = await startFakeGitLab(() => ({ status: 200, hang: true }));
    const { ctx } = await apiContext({ port: server.port }, 300);
    const started = Date.now();
    expect((await failure(apiRequest(ctx, { method: 'GET', path: '/api/v4/metadata', credential: undefined }))).reason).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('quotes GitLab text scrubbed of every configured token', async () => {
    const server = await startFakeGitLab((req) => json(400, { message: `bad header ${req.headers.authorization}` }));
    const { ctx } = await apiContext({ port: server.port });
    const res = await apiRequest(ctx, { method: 'GET', path: '/api/v4/metadata', credential: credential(ctx.instance, 'admin') });
    expect(res.gitlabMessage).toBe('bad header Bearer <redacted>');
    expect(() => ensureOk(res)).toThrow(/answered 400/);
    expect(() => parseBody(res, z.object({ ok: z.boolean() }), 'x')).toThrow(ProbeError);
  });
});

describe('GraphQL calls', () => {
  const schema = z.object({ currentLicense: z.object({ type: z.string() }).nullable() });
  const query = (reply: FakeReply) => async () => {
    const server = await startFakeGitLab((req) => (req.path === '/api/graphql' && req.method === 'POST' ? reply : json(404, {})));
    const { ctx } = await apiContext({ port: server.port });
    const result = graphqlQuery(ctx, { document: '{ currentLicense { type } }', credential: credential(ctx.instance, 'admin')!, what: 'the licence' }, schema);
    return { server, result };
  };

  it('returns validated data and posts the document as JSON', async () => {
    const { server, result } = await query(json(200, { data: { currentLicense: { type: 'online_cloud' } } }))();
    expect(await result).toEqual({ currentLicense: { type: 'online_cloud' } });
    expect(server.requests[0]!.json).toEqual({ query: '{ currentLicense { type } }', variables: {} });
    expect(server.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('a permission error (HTTP 200, field null) is forbidden', async () => {
    const { result } = await query(
      json(200, {
        data: { currentLicense: null },
        errors: [{ message: "The resource that you are attempting to access does not exist or you don't have permission to perform this action", path: ['currentLicense'] }],
      }),
    )();
    expect((await failure(result)).reason).toBe('forbidden');
  });

  it('a missing field is a typed unexpected_response', async () => {
    const { result } = await query(json(200, { errors: [{ message: "Field 'currentLicense' doesn't exist on type 'Query'", extensions: { code: 'undefinedField' } }] }))();
    const err = await failure(result);
    expect(err).toBeInstanceOf(GraphQLFieldMissingError);
    expect(err.reason).toBe('unexpected_response');
    expect((err as GraphQLFieldMissingError).field).toBe('currentLicense');
  });

  it.each<[string, FakeReply, string]>([
    ['401 Invalid token', json(401, { errors: [{ message: 'Invalid token' }] }), 'auth'],
    ['another GraphQL error', json(200, { errors: [{ message: 'Internal server error' }] }), 'unexpected_response'],
    ['data of the wrong shape', json(200, { data: { currentLicense: { type: 7 } } }), 'unexpected_response'],
    ['no data at all', json(200, {}), 'unexpected_response'],
    ['not a GraphQL envelope', json(200, [1, 2]), 'unexpected_response'],
  ])('%s → %s', async (_name, reply, reason) => {
    const { result } = await query(reply)();
    expect((await failure(result)).reason).toBe(reason);
  });
});
