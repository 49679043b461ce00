import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { BcryptWorker } from './bcrypt-worker.js';
import type { WebConfig } from './config.js';
import type { WebConfigWatcher } from './watcher.js';

/**
 * The per-request half of `--web.config.file`: security headers, rate limit, basic auth. Mounted
 * first, so it covers every endpoint (/metrics, /-/reload, the UI).
 *
 * Two deviations from the toolkit, both against floods (issue #12):
 * - bcrypt runs in a worker thread with a bounded queue (BasicAuthChecker): when the queue is
 *   full the answer is an immediate `503 Service Unavailable` with `Retry-After: 1`, and a queued
 *   check whose client went away is dropped before it runs.
 * - `rate_limit` has two buckets of the configured size: one for requests whose credentials
 *   match a remembered successful check, one for everything else (no, wrong or not yet checked
 *   credentials). An anonymous client can exhaust only the second, never the scraper's.
 * A request with remembered credentials is answered without waiting for any bcrypt run. (Also,
 * the security headers are set first, so a 429 carries them too; the toolkit sets them after.)
 */
export function webConfigMiddleware(watcher: WebConfigWatcher, logger: Logger, options: { checker?: BasicAuthChecker } = {}): RequestHandler {
  const checker = options.checker ?? new BasicAuthChecker();
  const limits = new RateLimits();
  const busy = { count: 0, loggedAt: 0 };
  return (req: Request, res: Response, next: NextFunction) => {
    watcher.refresh();
    const config = watcher.current;
    limits.configure(config.rateLimit);
    for (const [name, value] of Object.entries(config.headers)) res.set(name, value);
    if (config.users.size === 0) {
      if (limits.take('others')) next();
      else tooManyRequests(res);
      return;
    }
    const credentials = parseBasicAuth(req.get('authorization'));
    if (credentials && checker.remembered(config.users, credentials.user, credentials.password)) {
      if (limits.take('authenticated')) next();
      else tooManyRequests(res);
      return;
    }
    if (!limits.take('others')) {
      tooManyRequests(res);
      return;
    }
    if (!credentials) {
      unauthorized(res);
      return;
    }
    // The client may give up while its check waits: then the check is dropped, not run.
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    res.once('close', onClose);
    checker.check(config.users, credentials.user, credentials.password, gone.signal).then(
      (ok) => {
        res.off('close', onClose);
        if (gone.signal.aborted) return;
        if (ok) next();
        else unauthorized(res);
      },
      (err: unknown) => {
        res.off('close', onClose);
        if (err instanceof AuthCheckAbortedError || gone.signal.aborted) return;
        if (err instanceof AuthQueueFullError) {
          busy.count++;
          if (Date.now() - busy.loggedAt >= 60_000) {
            logger.warn({ refused: busy.count, waiting: checker.waiting }, 'basic auth: too many password checks waiting, answering 503');
            busy.loggedAt = Date.now();
            busy.count = 0;
          }
          res.status(503).set('Retry-After', '1').type('text/plain').send('Service Unavailable: too many password checks waiting\n');
          return;
        }
        logger.error({ err }, 'basic auth check failed');
        res.status(500).type('text/plain').send('Internal Server Error\n');
      },
    );
  };
}

function tooManyRequests(res: Response): void {
  res.status(429).type('text/plain').send('Too Many Requests\n');
}

/**
 * The web config's `rate_limit`, as two token buckets of the configured size: `authenticated`
 * (credentials matching a remembered successful check) and `others`. Rebuilt only when the
 * configured interval or burst changes, so a reload of an unchanged file keeps their state.
 */
class RateLimits {
  #config: WebConfig['rateLimit'];
  #buckets: { authenticated: TokenBucket; others: TokenBucket } | undefined;

  configure(config: WebConfig['rateLimit']): void {
    if (config === this.#config) return;
    const same = config && this.#config && config.intervalMs === this.#config.intervalMs && config.burst === this.#config.burst;
    this.#config = config;
    if (same) return;
    this.#buckets = config && { authenticated: new TokenBucket(config.intervalMs, config.burst), others: new TokenBucket(config.intervalMs, config.burst) };
  }

  take(which: 'authenticated' | 'others'): boolean {
    return this.#buckets === undefined || this.#buckets[which].take();
  }
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

/** How many checks may wait for the one running; beyond that a check is refused at once. */
export const MAX_WAITING_CHECKS = 10;

/** The check queue is full: answer 503 now rather than queue without end. */
export class AuthQueueFullError extends Error {
  constructor() {
    super('too many password checks waiting');
    this.name = 'AuthQueueFullError';
  }
}

/** The request went away before its check ran: the check was dropped. */
export class AuthCheckAbortedError extends Error {
  constructor() {
    super('password check dropped: the request went away');
    this.name = 'AuthCheckAbortedError';
  }
}

interface QueuedCheck {
  readonly password: string;
  readonly hash: string;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (ok: boolean) => void;
  readonly reject: (err: unknown) => void;
  onAbort?: () => void;
}

/**
 * Checks credentials against the configured bcrypt hashes. Like the toolkit it remembers
 * successful checks, so a scrape every 15 s does not pay for bcrypt every time; an entry is keyed
 * by a digest of user, hash and password, so it only ever matches that exact password against
 * that exact hash (a changed password or hash misses). Failed checks are not remembered (the
 * toolkit does remember them): a flood of wrong passwords cannot push a scraper's entry out.
 *
 * bcrypt runs one at a time (the toolkit's mutex), by default in a worker thread (BcryptWorker),
 * so the event loop never waits for it. At most `maxWaiting` checks wait for their turn; one more
 * is refused at once (AuthQueueFullError). A waiting check whose signal aborts (its client went
 * away) leaves the queue without running (AuthCheckAbortedError).
 */
export class BasicAuthChecker {
  readonly #cache = new Set<string>();
  readonly #compare: CompareFn;
  readonly #worker: BcryptWorker | undefined;
  readonly #maxWaiting: number;
  readonly #waiting: QueuedCheck[] = [];
  #running = false;

  constructor(compare?: CompareFn, options: { maxWaiting?: number } = {}) {
    if (compare) {
      this.#compare = compare;
    } else {
      const worker = new BcryptWorker();
      this.#worker = worker;
      this.#compare = (password, hash) => worker.compare(password, hash);
    }
    this.#maxWaiting = options.maxWaiting ?? MAX_WAITING_CHECKS;
  }

  /** Checks waiting for their turn (not counting the one running). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether a bcrypt run is in progress. */
  get busy(): boolean {
    return this.#running;
  }

  /** Whether these credentials passed before (synchronous: no bcrypt, no queue). */
  remembered(users: ReadonlyMap<string, string>, user: string, password: string): boolean {
    const hash = findUser(users, user);
    return hash !== undefined && this.#cache.has(cacheKey(user, hash, password));
  }

  /**
   * Whether the credentials are right: from the remembered checks, else by one bcrypt run (against
   * the toolkit's decoy hash for an unknown user). Rejects with AuthQueueFullError when
   * `maxWaiting` checks are already waiting, with AuthCheckAbortedError when `signal` aborts
   * before the run starts, and with the compare function's error if it fails.
   */
  async check(users: ReadonlyMap<string, string>, user: string, password: string, signal?: AbortSignal): Promise<boolean> {
    const hash = findUser(users, user);
    const key = cacheKey(user, hash ?? DECOY_HASH, password);
    if (hash !== undefined && this.#cache.has(key)) return true;
    const ok = (await this.#enqueue(password, hash ?? DECOY_HASH, signal)) && hash !== undefined;
    if (ok) this.#remember(key);
    return ok;
  }

  /** Stops the bcrypt worker, if this checker started one (a later check starts it again). */
  async close(): Promise<void> {
    await this.#worker?.close();
  }

  #enqueue(password: string, hash: string, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.reject(new AuthCheckAbortedError());
    if (this.#running && this.#waiting.length >= this.#maxWaiting) return Promise.reject(new AuthQueueFullError());
    return new Promise<boolean>((resolve, reject) => {
      const queued: QueuedCheck = { password, hash, signal, resolve, reject };
      if (signal) {
        queued.onAbort = () => {
          const at = this.#waiting.indexOf(queued);
          if (at < 0) return;
          this.#waiting.splice(at, 1);
          reject(new AuthCheckAbortedError());
        };
        signal.addEventListener('abort', queued.onAbort, { once: true });
      }
      this.#waiting.push(queued);
      this.#next();
    });
  }

  #next(): void {
    if (this.#running) return;
    const queued = this.#waiting.shift();
    if (!queued) return;
    if (queued.onAbort) queued.signal?.removeEventListener('abort', queued.onAbort);
    this.#running = true;
    let run: Promise<boolean>;
    try {
      run = this.#compare(queued.password, queued.hash);
    } catch (err) {
      run = Promise.reject(err);
    }
    run
      .then(queued.resolve, queued.reject)
      .finally(() => {
        this.#running = false;
        this.#next();
      });
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

function cacheKey(user: string, hash: string, password: string): string {
  return createHash('sha256').update(JSON.stringify([user, hash, password])).digest('base64');
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
