import type { RequestHandler } from './http-util.js';
import { json, requestUrl, send } from './http-util.js';
import type { SimContext } from './world.js';

/**
 * customers.gitlab.com look-alike. GitLab's host_probe and the exporter count any HTTP answer as
 * "reachable", so the only thing that matters is that it answers (or, when down, that the front
 * resets the connection before any answer).
 */
export const customersPortalHandler: RequestHandler = (req, res) => {
  const path = requestUrl(req).pathname;
  if (path === '/') {
    send(req, res, { status: 302, headers: { location: '/customers/sign_in', 'content-type': 'text/html' }, body: '' });
    return;
  }
  send(req, res, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: '<!DOCTYPE html><title>Customers Portal</title>' });
};

/** cloud.gitlab.com look-alike: answers any path; its AI gateway health under /ai like the real one. */
export const cloudConnectorHandler: RequestHandler = (req, res) => {
  const path = requestUrl(req).pathname;
  if (path === '/ai/monitoring/healthz') send(req, res, json(200, {}));
  else send(req, res, json(404, { detail: 'Not Found' }));
};

/**
 * A self-hosted AI gateway (ai_gateway/api/monitoring.py): `/monitoring/healthz` runs no checks;
 * `/monitoring/ready` calls the vendors' models, so it answers 503 where they are out of reach (an
 * air-gapped gateway, here: cloud.gitlab.com down) even while the gateway serves its own models.
 */
export function aiGatewayHandler(ctx: SimContext): RequestHandler {
  return (req, res) => {
    const path = requestUrl(req).pathname;
    if (path === '/monitoring/healthz') return send(req, res, json(200, {}));
    if (path === '/monitoring/ready') {
      const c = ctx.conditions();
      return send(req, res, c.aiGatewayReady && c.cloudConnectorUp ? json(200, {}) : json(503, { detail: 'Not ready: model endpoints unavailable' }));
    }
    send(req, res, json(404, { detail: 'Not Found' }));
  };
}
