import { CABLE_PATH, UPGRADE_REQUIRED } from './cable.js';
import { handleRest, type RestReply } from './gitlab-rest.js';
import { executeGraphql } from './graphql.js';
import type { AnyRequest, AnyResponse, RequestHandler } from './http-util.js';
import { BodyTooLargeError, extractToken, json, parseJson, readBody, requestUrl, send, text } from './http-util.js';
import type { SimContext } from './world.js';

export interface GitlabApp {
  readonly handleRequest: RequestHandler;
  /** Ends delayed answers still waiting (the slow scenario). */
  close(): void;
}

const HTML = { 'content-type': 'text/html; charset=utf-8' };

function page(status: number, title: string): RestReply {
  return { status, headers: HTML, body: `<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1></body></html>` };
}

/** Routes outside the API: just enough of the web UI and Workhorse for probes to touch. */
function webRoute(method: string, path: string): RestReply {
  if (path === CABLE_PATH) return text(400, UPGRADE_REQUIRED);
  if (method !== 'GET' && method !== 'HEAD') return page(404, 'Page not found');
  if (path === '/') return { status: 302, headers: { location: '/users/sign_in', ...HTML }, body: '' };
  if (path === '/users/sign_in') return page(200, 'Sign in · GitLab');
  if (path === '/-/health') return text(200, 'GitLab OK');
  if (path === '/-/readiness' || path === '/-/liveness') return json(200, { status: 'ok' });
  return page(404, 'Page not found');
}

/**
 * The GitLab instance's HTTP routes (REST v4, GraphQL, a few web paths). The same handler serves
 * HTTP/2 and HTTP/1.1 so that only ALPN changes between the normal and downgraded fronts.
 */
export function createGitlabApp(ctx: SimContext): GitlabApp {
  const pending = new Set<{ timer: NodeJS.Timeout; res: AnyResponse }>();

  async function answer(req: AnyRequest): Promise<RestReply> {
    const method = req.method ?? 'GET';
    const url = requestUrl(req);
    const path = url.pathname;
    const isApi = path.startsWith('/api/v4/');
    if (!isApi && path !== '/api/graphql') return webRoute(method, path);
    let body: unknown;
    if (method === 'POST') {
      try {
        body = parseJson(await readBody(req));
      } catch (err) {
        if (err instanceof BodyTooLargeError) return json(413, { message: '413 Request Entity Too Large' }, { connection: 'close' });
        throw err;
      }
    }
    const caller = ctx.caller(extractToken(req.headers, url));
    if (isApi) return handleRest({ method, path, url, caller, body, ctx });
    if (method === 'GET') {
      const variables = parseJson(Buffer.from(url.searchParams.get('variables') ?? ''));
      body = { query: url.searchParams.get('query'), variables, operationName: url.searchParams.get('operationName') ?? undefined };
    } else if (method !== 'POST') {
      return page(404, 'Page not found');
    }
    return executeGraphql(body, caller, ctx);
  }

  function later(req: AnyRequest, res: AnyResponse, reply: RestReply, delayMs: number): void {
    const entry = {
      res,
      timer: setTimeout(() => {
        pending.delete(entry);
        send(req, res, reply);
      }, delayMs),
    };
    pending.add(entry);
    // A client that gives up must not leave a timer behind.
    res.once('close', () => {
      clearTimeout(entry.timer);
      pending.delete(entry);
    });
  }

  const handleRequest: RequestHandler = (req, res) => {
    answer(req).then(
      (reply) => {
        ctx.logger.debug({ method: req.method, path: requestUrl(req).pathname, status: reply.status }, 'gitlab request');
        if (reply.delayMs && reply.delayMs > 0) later(req, res, reply, reply.delayMs);
        else send(req, res, reply);
      },
      (err: unknown) => {
        ctx.logger.warn({ err }, 'gitlab request failed');
        send(req, res, json(500, { message: '500 Internal Server Error' }));
      },
    );
  };

  return {
    handleRequest,
    close() {
      for (const entry of pending) {
        clearTimeout(entry.timer);
        entry.res.destroy();
      }
      pending.clear();
    },
  };
}
