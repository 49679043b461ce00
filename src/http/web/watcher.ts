import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ConfigError } from '../../core/errors.js';
import { loadWebConfig, type WebConfig } from './config.js';
import { errorCode } from './file-problem.js';
import type { TlsServerSettings } from './tls-settings.js';

/** Everything the web config's TLS part looked at, so a change on disk is noticed (stat never opens a file). */
async function stamp(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(
    paths.map(async (path) => {
      try {
        const s = await stat(path);
        return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
      } catch (err) {
        return errorCode(err);
      }
    }),
  );
  return parts.join('|');
}

const tlsIdentity = (tls: TlsServerSettings | undefined): string => JSON.stringify(tls ?? null);

/**
 * The running web config. The toolkit re-reads the file on every request; this does the
 * equivalent cheaply and never on the request path: at most once a second, a new connection or
 * request starts a look at the disk in the background (stat of the file and of the certificate,
 * key and CA files; when one changed, the files are read again with core/files.ts's rules) and
 * goes on at once with the config in force. A new certificate is handed to the server
 * (`setSecureContext`) for the next handshakes. Until a new config has been read and validated the
 * running one keeps serving; an invalid one is logged and kept out, and tried again every second
 * until it loads (e.g. cert written before key). A FIFO or a device put in place of a file is
 * refused like any invalid file, without blocking anything.
 */
export class WebConfigWatcher {
  #config: WebConfig;
  #stamp: string | undefined;
  #checkedAt: number;
  #failure: string | undefined;
  #looking: Promise<boolean> | undefined;
  readonly #tlsListeners: Array<(tls: TlsServerSettings) => void> = [];

  constructor(
    readonly path: string,
    initial: WebConfig,
    private readonly logger: Logger,
    /** Minimum time between two looks at the disk. */
    private readonly checkEveryMs = 1000,
    /** What `stamp` said of the files when `initial` was read; without it, it is taken now, in the background. */
    initialStamp?: string,
  ) {
    this.#config = initial;
    this.#stamp = initialStamp;
    this.#checkedAt = Date.now();
    if (initialStamp === undefined) {
      void stamp(this.#watched(initial)).then((taken) => {
        this.#stamp ??= taken;
      });
    }
  }

  /** Loads and validates `path` (rejects with a ConfigError on any problem) and logs what it turned on. */
  static async load(path: string, logger: Logger): Promise<WebConfigWatcher> {
    const config = await loadWebConfig(path);
    const watcher = new WebConfigWatcher(path, config, logger, 1000, await stamp([path, ...(config.tls?.files ?? [])]));
    const c = watcher.current;
    logger.info(
      { file: path, tls: c.tls !== undefined, http2: false, client_auth: c.tls?.clientAuth, basic_auth_users: c.users.size, headers: Object.keys(c.headers), rate_limit: c.rateLimit },
      c.tls ? 'TLS is enabled' : 'TLS is disabled',
    );
    for (const note of c.notes) logger.info(note);
    return watcher;
  }

  get current(): WebConfig {
    return this.#config;
  }

  /** Called with the new TLS settings after a change on disk was accepted. */
  onTlsChange(listener: (tls: TlsServerSettings) => void): void {
    this.#tlsListeners.push(listener);
  }

  /**
   * For the request path: starts a look at the disk if the last one is older than a second and none
   * is under way, and returns at once. The caller goes on with `current`.
   */
  refresh(now = Date.now()): void {
    void this.check(now);
  }

  /**
   * Looks at the disk if the last look is older than a second (a look under way is shared), and
   * resolves with whether a new config was applied. Never rejects.
   */
  check(now = Date.now()): Promise<boolean> {
    if (this.#looking) return this.#looking;
    if (now - this.#checkedAt < this.checkEveryMs) return Promise.resolve(false);
    this.#checkedAt = now;
    const look = this.#look().catch((err: unknown) => {
      this.logger.error({ file: this.path, err: err instanceof Error ? err.message : String(err) }, 'web config check failed');
      return false;
    });
    this.#looking = look.finally(() => {
      this.#looking = undefined;
      // The look itself may have taken a while: the next one is a second after it ended.
      this.#checkedAt = Date.now();
    });
    return this.#looking;
  }

  async #look(): Promise<boolean> {
    const current = await stamp(this.#watched(this.#config));
    if (current === this.#stamp && this.#failure === undefined) return false;
    this.#stamp = current;
    return this.#reload();
  }

  #watched(config: WebConfig): string[] {
    return [this.path, ...(config.tls?.files ?? [])];
  }

  async #reload(): Promise<boolean> {
    let next: WebConfig;
    try {
      next = await loadWebConfig(this.path);
      if ((next.tls === undefined) !== (this.#config.tls === undefined)) {
        throw new ConfigError([`tls_server_config: turning TLS ${next.tls ? 'on' : 'off'} needs a restart`], this.path);
      }
      if (next.tls && tlsIdentity(next.tls) !== tlsIdentity(this.#config.tls)) {
        for (const listener of this.#tlsListeners) listener(next.tls);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.#failure) {
        this.logger.error({ file: this.path, issues: err instanceof ConfigError ? err.issues : undefined }, `web config reload refused, keeping the running one: ${message}`);
      }
      this.#failure = message;
      return false;
    }
    const certChanged = next.tls?.cert !== this.#config.tls?.cert;
    this.#config = next;
    this.#failure = undefined;
    // The files may have changed again while being read: stamp what the new config points at.
    this.#stamp = await stamp(this.#watched(next));
    this.logger.info({ file: this.path, certificate_changed: certChanged, basic_auth_users: next.users.size }, 'web config reloaded');
    return true;
  }
}
