import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** Where a front sends a new connection: a loopback backend port, or a TCP reset. */
export type Route = { readonly port: number } | 'reset';

export interface Front {
  /** The stable public port: the exporter's config names it once, scenarios switch behind it. */
  readonly port: number;
  /** Drops open connections whose route changed, so a scenario switch is seen at once. */
  refresh(): void;
  close(): Promise<void>;
}

interface Pair {
  readonly route: Route;
  readonly client: Socket;
  readonly upstream: Socket | undefined;
}

function sameRoute(a: Route, b: Route): boolean {
  return a === 'reset' || b === 'reset' ? a === b : a.port === b.port;
}

function destroyPair(pair: Pair): void {
  pair.client.destroy();
  pair.upstream?.destroy();
}

/**
 * A TCP front that picks a backend per connection. ALPN is decided during the TLS handshake by
 * the server that terminates TLS, so changing what a port negotiates (h2 or http/1.1) means
 * handing the connection to a different TLS server: the front splices raw bytes to whichever
 * backend the current scenario chooses, keeping the advertised host:port stable.
 */
export async function startFront(host: string, choose: () => Route): Promise<Front> {
  const pairs = new Set<Pair>();
  const server: Server = createServer((client) => {
    const route = choose();
    client.on('error', () => undefined);
    if (route === 'reset') {
      // An RST rather than a FIN: what a dead or firewalled host looks like to a client.
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(route.port, '127.0.0.1');
    // Relaying small TLS records with Nagle on both hops would add delayed-ACK stalls.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    upstream.on('error', () => client.destroy());
    const pair: Pair = { route, client, upstream };
    pairs.add(pair);
    client.on('close', () => {
      pairs.delete(pair);
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    refresh() {
      const now = choose();
      for (const pair of pairs) if (!sameRoute(pair.route, now)) destroyPair(pair);
    },
    close() {
      for (const pair of pairs) destroyPair(pair);
      pairs.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
