import type { Server } from 'node:http';
import { ConfigError, ListenError } from '../core/errors.js';

/** `[host]:port`, as --web.listen-address and web.listen_address take it (an empty host: every address). */
export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!match) throw new ConfigError([`web.listen_address: "${address}" must be [host]:port`], 'command line');
  const port = Number(match[3]);
  if (port > 65535) throw new ConfigError([`web.listen_address: "${address}": the port must be 0-65535`], 'command line');
  return { host: match[1] ?? (match[2] || undefined), port };
}

/** Binds the server; a failure is a ListenError that says what went wrong in plain words. */
export function listen(server: Server, address: string): Promise<void> {
  const { host, port } = parseListenAddress(address);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new ListenError(address, err.code, listenFailure(address, err)));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

// What each usual bind failure means, and what to do about it.
const WHY: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use (EADDRINUSE); is another exporter running? use --web.listen-address to pick another address',
  EACCES: 'permission denied (EACCES); ports below 1024 need root or CAP_NET_BIND_SERVICE: use --web.listen-address with a higher port',
  EADDRNOTAVAIL: 'address not available (EADDRNOTAVAIL); the host must be an address of this machine, or empty for every address',
  ENOTFOUND: 'the host name does not resolve (ENOTFOUND)',
  EAI_AGAIN: 'the host name cannot be resolved now (EAI_AGAIN)',
};

export function listenFailure(address: string, err: NodeJS.ErrnoException): string {
  const why = (err.code !== undefined ? WHY[err.code] : undefined) ?? err.message;
  return `cannot listen on ${address}: ${why}`;
}
