import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { WebConfigWatcher } from './tls-server.js';
import type { WebConfig } from './web-config.js';

/**
 * The per-request half of `--web.config.file`, in the toolkit's order: rate limit, security
 * headers, basic auth. Mounted first, so it covers every endpoint (/metrics, /-/reload, the UI).
 */
export function webConfigMiddleware(watcher: WebConfigWatcher, logger: Logger): RequestHandler {
  const checker = new BasicAuthChecker();
  let limiter: { config: WebConfig['rateLimit']; bucket: TokenBucket | undefined } = { config: undefined, bucket: undefined };
  return (req: Request, res: Response, next: NextFunction) => {
    watcher.refresh();
    const config = watcher.current;
    if (config.rateLimit !== limiter.config) {
      const same = config.rateLimit && limiter.config && config.rateLimit.intervalMs === limiter.config.intervalMs && config.rateLimit.burst === limiter.config.burst;
      limiter = { config: config.rateLimit, bucket: same ? limiter.bucket : config.rateLimit && new TokenBucket(config.rateLimit.intervalMs, config.rateLimit.burst) };
    }
    if (limiter.bucket && !limiter.bucket.take()) {
      res.status(429).type('text/plain').send('Too Many Requests\n');
      return;
    }
    for (const [name, value] of Object.entries(config.headers)) res.set(name, value);
    if (config.users.size === 0) {
      next();
      return;
    }
    const credentials = parseBasicAuth(req.get('authorization'));
    if (!credentials) {
      unauthorized(res);
      return;
    }
    checker.check(config.users, credentials.user, credentials.password).then(
      (ok) => (ok ? next() : unauthorized(res)),
      (err: unknown) => {
        logger.error({ err }, 'basic auth check failed');
        res.status(500).type('text/plain').send('Internal Server Error\n');
      },
    );
  };
}

function unauthorized(res: Response): void {
  res.status(401).set('WWW-Authenticate', 'Basic').type('text/plain').send('Unauthorized\n');
}

/** Go's `Request.BasicAuth`: "Basic " (any case), base64, split at the first colon. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The toolkit's hash for unknown users ("fakepassword", cost 10): an unknown user costs the same
 * bcrypt run as a known one, so timing does not tell which users exist.
 */
const DECOY_HASH = '$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi';
const CACHE_SIZE = 100;

export type CompareFn = (password: string, hash: string) => Promise<boolean>;

/**
 * Checks credentials against the configured bcrypt hashes. Like the toolkit it remembers
 * successful checks, so a scrape every 15 s does not pay for bcrypt every time; an entry is keyed
 * by a digest of user, hash and password, so it only ever matches that exact password against
 * that exact hash (a changed password or hash misses). bcrypt runs one at a time (the toolkit's
 * mutex): it is deliberately slow.
 */
export class BasicAuthChecker {
  readonly #cache = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly compare: CompareFn = bcryptCompare) {}

  async check(users: ReadonlyMap<string, string>, user: string, password: string): Promise<boolean> {
    const hash = findUser(users, user);
    const key = createHash('sha256').update(JSON.stringify([user, hash ?? DECOY_HASH, password])).digest('base64');
    if (hash !== undefined && this.#cache.has(key)) return true;
    const run = this.#queue.then(() => this.compare(password, hash ?? DECOY_HASH));
    this.#queue = run.catch(() => undefined);
    const ok = (await run) && hash !== undefined;
    if (ok) this.#remember(key);
    return ok;
  }

  #remember(key: string): void {
    if (this.#cache.size >= CACHE_SIZE) {
      // Random eviction of a tenth, as the toolkit does.
      const keys = [...this.#cache];
      for (let i = 0; i < CACHE_SIZE / 10; i++) this.#cache.delete(keys[Math.floor(Math.random() * keys.length)]!);
    }
    this.#cache.add(key);
  }
}

/** The hash for `user`, comparing against every configured name in constant time. */
function findUser(users: ReadonlyMap<string, string>, user: string): string | undefined {
  const wanted = createHash('sha256').update(user).digest();
  let found: string | undefined;
  for (const [name, hash] of users) {
    if (timingSafeEqual(createHash('sha256').update(name).digest(), wanted)) found = hash;
  }
  return found;
}

/** golang.org/x/time/rate with `rate.Every(interval)` and `burst`: starts full. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    private readonly intervalMs: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + Math.max(0, now - this.#at) / this.intervalMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** bcryptjs, loaded on the first check: only web configs with basic_auth_users need it. */
async function bcryptCompare(password: string, hash: string): Promise<boolean> {
  const { default: bcrypt } = await import('bcryptjs');
  return bcrypt.compare(password, hash);
}
