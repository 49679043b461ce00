import { createServer, type RequestListener, type Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { ExporterMetrics } from '../metrics/registry.js';
import { buildReport } from '../report/report.js';
import { renderReport } from '../report/render.js';
import type { Plan } from '../runner/plan.js';
import type { RunNowAnswer } from '../runner/scheduler.js';
import type { ResultStore } from '../runner/store.js';
import { PROBE_NAMES } from '../probes/index.js';
import { sendBody } from './compress.js';
import { renderStatusPage } from './status-page.js';
import { webConfigMiddleware } from './web/auth.js';
import { createTlsServer } from './web/tls-server.js';
import type { WebConfigWatcher } from './web/watcher.js';

export interface HttpDeps {
  readonly metrics: ExporterMetrics;
  readonly store: ResultStore;
  plan(): Plan;
  /** Re-reads the config; resolves with an error message when the new one was refused. */
  reload(): Promise<string | undefined>;
  /** Runs a probe (or `all`) now, on every instance or on `gitlab` only. */
  runNow(probe: string, gitlab?: string): Promise<RunNowAnswer[]>;
  /** `--web.enable-lifecycle`: whether POST /-/reload may reload (SIGHUP always can). */
  readonly lifecycle: boolean;
  readonly logger: Logger;
  /**
   * Requests wait for this before they are answered: the server is bound before startup has made
   * the plan, so that a port in use is reported first. A rejection drops the waiting connections.
   */
  readonly ready?: Promise<void>;
}

/** The exporter's HTTP surface. No route takes a target or a token from the caller. */
export function createHttpServer(deps: HttpDeps, webConfig?: WebConfigWatcher): Server {
  const app = express();
  app.use(limitBody);
  app.use(securityHeaders);
  // --web.config.file: rate limit, security headers and basic auth come first, for every route.
  if (webConfig) app.use(webConfigMiddleware(webConfig, deps.logger));
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/metrics', (req, res) => void serveMetrics(req, res, deps));
  app.get('/-/healthy', (_req, res) => void res.type('text/plain').send('Healthy.\n'));
  app.get('/-/ready', (_req, res) => void res.type('text/plain').send('Ready.\n'));
  app.all('/-/reload', (req, res) => void handleReload(req, res, deps));
  app.all('/-/probe/:name', (req, res) => void handleRunNow(req, res, deps));
  // The pages a browser shows; /metrics and the health endpoints answer to any Host (scrapers
  // address the exporter by IP, service name or port-forward).
  const page = allowedHostsOnly(deps);
  // Like /metrics, the reports and the status page are gzip-compressed when the client allows it.
  app.get('/report.json', page, (req, res) => void sendBody(req, res.type('application/json'), renderReport(buildReport(deps.plan(), deps.store), 'json')));
  app.get('/report.md', page, (req, res) => void sendBody(req, res.type('text/markdown; charset=utf-8'), renderReport(buildReport(deps.plan(), deps.store), 'markdown')));
  app.get('/', page, (req, res) => void sendBody(req, res.type('html'), renderStatusPage(deps.plan(), deps.store)));
  app.use((_req: Request, res: Response) => void res.status(404).type('text/plain').send('Not found.\n'));
  const options = { maxHeaderSize: 16 * 1024, requestTimeout: 30_000, headersTimeout: 10_000 };
  const ready = deps.ready;
  const handler: RequestListener = ready ? (req, res) => void ready.then(() => app(req, res), () => res.destroy()) : app;
  const server = webConfig?.current.tls ? createTlsServer(webConfig, options, handler, deps.logger) : createServer(options, handler);
  server.keepAliveTimeout = 65_000;
  return server;
}

// No route takes a request body, but Node reads and drops any body it is sent to keep the
// connection usable: a caller could stream gigabytes into /-/reload. A declared body past this is
// refused (413, connection closed); an undeclared one (chunked) loses its connection once past it.
const MAX_BODY_BYTES = 64 * 1024;

function limitBody(req: Request, res: Response, next: NextFunction): void {
  if (Number(req.get('content-length') ?? 0) > MAX_BODY_BYTES) {
    res.status(413).set('Connection', 'close').type('text/plain').send('Request body too large.\n');
    return;
  }
  let received = 0;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > MAX_BODY_BYTES) req.socket.destroy();
  });
  next();
}

/**
 * Sent with every answer; a web config's `http_server_config.headers` override them. The status
 * page has no script, no image and no form: the policy allows its inline styles and nothing else,
 * and no page may be framed (clickjacking) or leak its URL as a referrer.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set(SECURITY_HEADERS);
  next();
}

/**
 * `web.allowed_hosts`: when set, the pages answer only to those Host values. A page on another
 * site can rebind its own name to the exporter's address and then read same-origin answers
 * through a visitor's browser (DNS rebinding); its Host header still carries its own name.
 */
function allowedHostsOnly(deps: HttpDeps) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const allowed = deps.plan().config.web.allowed_hosts;
    if (allowed.length === 0 || hostAllowed(req.get('host') ?? '', allowed)) {
      next();
      return;
    }
    res.status(403).type('text/plain').send('This Host is not in web.allowed_hosts.\n');
  };
}

/** `host` entries match any port, `host:port` entries that port only; names ignore case. */
export function hostAllowed(hostHeader: string, allowed: readonly string[]): boolean {
  const header = hostHeader.toLowerCase();
  const hostOnly = header.replace(/:\d+$/, '');
  return allowed.some((entry) => {
    const e = entry.toLowerCase();
    return e === header || e === hostOnly;
  });
}

async function serveMetrics(req: Request, res: Response, deps: HttpDeps): Promise<void> {
  const wantsOpenMetrics = (req.get('accept') ?? '').includes('application/openmetrics-text');
  const registry = wantsOpenMetrics ? deps.metrics.openMetrics : deps.metrics.prometheus;
  try {
    const chunks = await registry.render();
    // The format follows Accept, so a cache must tell those answers apart too.
    res.status(200).type(registry.contentType).vary('Accept');
    await sendBody(req, res, chunks);
  } catch (err) {
    deps.logger.error({ err }, 'rendering /metrics failed');
    res.status(500).type('text/plain').send('error rendering metrics\n');
  }
}

/**
 * POST /-/reload, Prometheus's lifecycle endpoint: off unless `--web.enable-lifecycle` (403, as
 * Prometheus answers), POST only, and never from another site: a page elsewhere could otherwise
 * make every visitor's browser reload the exporter (issue #12). The reload starts once the
 * request's body has fully arrived; a body that never ends never reloads.
 */
async function handleReload(req: Request, res: Response, deps: HttpDeps): Promise<void> {
  if (!deps.lifecycle) {
    res.status(403).type('text/plain').send('Lifecycle API is not enabled (start the exporter with --web.enable-lifecycle, or send SIGHUP).\n');
    return;
  }
  if (req.method !== 'POST') {
    res.status(405).set('Allow', 'POST').type('text/plain').send('Only POST requests allowed.\n');
    return;
  }
  const crossSite = crossSiteReason(req);
  if (crossSite) {
    deps.logger.warn({ reason: crossSite }, 'refused a cross-site POST /-/reload');
    res.status(403).type('text/plain').send(`Cross-site requests cannot reload the exporter: ${crossSite}.\n`);
    return;
  }
  if (!(await bodyReceived(req))) return;
  const error = await deps.reload();
  if (error) res.status(500).type('text/plain').send(`failed to reload config: ${error}\n`);
  else res.type('text/plain').send('Reloaded.\n');
}

/**
 * POST /-/probe/<name> (or `all`), optionally `?gitlab=<instance>`: runs the probe now and answers
 * when the runs are over (each within its timeout). Not a lifecycle operation, so on by default;
 * behind the web config's basic auth like every route, refused cross-site, and each probe runs at
 * most once per RUN_NOW_MIN_GAP_MS this way (429 with Retry-After). A browser (the status page's
 * buttons, a form POST) is sent back to the status page; programs get JSON.
 */
async function handleRunNow(req: Request, res: Response, deps: HttpDeps): Promise<void> {
  const name = typeof req.params.name === 'string' ? req.params.name : '';
  if (req.method !== 'POST') {
    res.status(405).set('Allow', 'POST').type('text/plain').send('Only POST requests allowed.\n');
    return;
  }
  if (name !== 'all' && !(PROBE_NAMES as readonly string[]).includes(name)) {
    res.status(404).type('text/plain').send(`No probe of that name; use one of: all, ${PROBE_NAMES.join(', ')}.\n`);
    return;
  }
  const crossSite = crossSiteReason(req);
  if (crossSite) {
    res.status(403).type('text/plain').send(`Cross-site requests cannot run probes: ${crossSite}.\n`);
    return;
  }
  if (!(await bodyReceived(req))) return;
  const gitlab = typeof req.query.gitlab === 'string' ? req.query.gitlab : undefined;
  const answers = await deps.runNow(name, gitlab);
  if (answers.length === 0) {
    res.status(404).type('text/plain').send('No such instance.\n');
    return;
  }
  const tooSoon = answers.map((a) => (a.outcome.kind === 'too_soon' ? a.outcome.retryAfterMs : 0));
  const allTooSoon = tooSoon.every((ms) => ms > 0);
  if ((req.get('accept') ?? '').includes('text/html') && !allTooSoon) {
    res.redirect(303, '/');
    return;
  }
  if (allTooSoon) res.status(429).set('Retry-After', String(Math.ceil(Math.min(...tooSoon) / 1000)));
  res.type('application/json').send(JSON.stringify({ runs: answers.map(describeRunNow) }, null, 2));
}

/** The JSON a program gets back: per probe and instance, what happened and the result. */
function describeRunNow(answer: RunNowAnswer): Record<string, unknown> {
  const { gitlab, probe, outcome } = answer;
  switch (outcome.kind) {
    case 'ran':
    case 'joined': {
      const r = outcome.result;
      return { gitlab, probe, status: outcome.kind, ...(r ? { success: r.success, reason: r.reason ?? null, message: r.message, duration_seconds: r.durationSeconds } : {}) };
    }
    case 'too_soon':
      return { gitlab, probe, status: 'too_soon', retry_after_seconds: Math.ceil(outcome.retryAfterMs / 1000) };
    case 'skipped':
      return { gitlab, probe, status: 'skipped', why: outcome.why };
    case 'not_scheduled':
      return { gitlab, probe, status: 'not_scheduled' };
  }
}

/**
 * Why a request comes from another site, or undefined. Browsers send Sec-Fetch-Site (same-origin,
 * same-site, cross-site, none) and, on a POST, Origin; curl, Kubernetes reloaders and other
 * programs send neither and are let through. `same-site` is refused too: another port or
 * subdomain of the same host is another application.
 */
export function crossSiteReason(req: Request): string | undefined {
  const fetchSite = req.get('sec-fetch-site');
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return `Sec-Fetch-Site is ${JSON.stringify(fetchSite.slice(0, 40))}`;
  const origin = req.get('origin');
  if (origin === undefined) return undefined;
  const originHost = URL.parse(origin)?.host;
  if (originHost === undefined || originHost === '' || originHost.toLowerCase() !== (req.get('host') ?? '').toLowerCase()) return 'the Origin is not this exporter';
  return undefined;
}

/** Resolves true once the request's body has ended, false if the connection closed first. */
function bodyReceived(req: Request): Promise<boolean> {
  if (req.complete) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ended: boolean) => () => {
      req.off('end', onEnd);
      req.off('close', onClose);
      resolve(ended);
    };
    const onEnd = done(true);
    const onClose = done(false);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.resume();
  });
}
