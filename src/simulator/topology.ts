/**
 * Which listeners exist and how the current scenario routes each public port to a backend.
 */
import { createCable } from './cable.js';
import { startDwsGrpc } from './dws.js';
import { startFront, type Front, type Route } from './front.js';
import { createGitlabApp } from './gitlab-app.js';
import { send, text } from './http-util.js';
import type { Pki } from './pki.js';
import type { Conditions } from './scenarios.js';
import { aiGatewayHandler, cloudConnectorHandler, customersPortalHandler } from './side-services.js';
import { startBackend, type Backend } from './tls-server.js';
import type { SimContext } from './world.js';

/** Host names of the simulated services; the certificate covers all of them. */
export const SIMULATOR_HOSTS = {
  gitlab: 'gitlab.duo-sim.test',
  customersPortal: 'customers.duo-sim.test',
  cloudConnector: 'cloud.duo-sim.test',
  duoWorkflowService: 'dws.duo-sim.test',
  aiGateway: 'aigw.duo-sim.test',
} as const;

export type Service = keyof typeof SIMULATOR_HOSTS;
export const SERVICES = Object.keys(SIMULATOR_HOSTS) as Service[];

/** Things to undo on close, in reverse order of creation. */
export type Closers = (() => Promise<void> | void)[];

/** Backends per service; the fronts pick among them by scenario. */
export interface Backends {
  readonly gitlabH2: Backend;
  readonly gitlabH1: Backend;
  readonly customersPortal: Backend;
  readonly cloudConnector: Backend;
  readonly dwsGrpc: Backend;
  readonly dwsH1: Backend;
  readonly aiGateway: Backend;
}

export function route(service: Service, c: Conditions, b: Backends | undefined): Route {
  // Until the backends exist (start-up), a connection is refused like a closed port would be.
  if (!b) return 'reset';
  switch (service) {
    case 'gitlab':
      return c.instanceAlpn === 'h2' ? b.gitlabH2 : b.gitlabH1;
    case 'customersPortal':
      return c.customersPortalUp ? b.customersPortal : 'reset';
    case 'cloudConnector':
      return c.cloudConnectorUp ? b.cloudConnector : 'reset';
    case 'duoWorkflowService':
      return c.dwsAlpn === 'h2' ? b.dwsGrpc : b.dwsH1;
    case 'aiGateway':
      return c.aiGatewayUp ? b.aiGateway : 'reset';
  }
}

/** One front per service on `host`, port chosen by the OS; `choose` is asked per connection. */
export async function startFronts(host: string, choose: (service: Service) => Route, closers: Closers): Promise<Record<Service, Front>> {
  const fronts = {} as Record<Service, Front>;
  for (const service of SERVICES) {
    const front = await startFront(host, () => choose(service));
    closers.push(() => front.close());
    fronts[service] = front;
  }
  return fronts;
}

export async function startBackends(pki: Pki, ctx: SimContext, closers: Closers): Promise<Backends> {
  const cable = createCable(ctx);
  closers.push(() => cable.close());
  const app = createGitlabApp(ctx);
  closers.push(() => app.close());
  const start = async (make: () => Promise<Backend>) => {
    const backend = await make();
    closers.push(() => backend.close());
    return backend;
  };
  const gitlab = { pki, onRequest: app.handleRequest, onUpgrade: cable.handleUpgrade };
  return {
    gitlabH2: await start(() => startBackend({ ...gitlab, alpn: 'h2' })),
    gitlabH1: await start(() => startBackend({ ...gitlab, alpn: 'http/1.1' })),
    customersPortal: await start(() => startBackend({ pki, alpn: 'h2', onRequest: customersPortalHandler })),
    cloudConnector: await start(() => startBackend({ pki, alpn: 'h2', onRequest: cloudConnectorHandler })),
    dwsGrpc: await start(() => startDwsGrpc(pki, ctx)),
    // What a load balancer without HTTP/2 answers; a gRPC client never gets this far.
    dwsH1: await start(() => startBackend({ pki, alpn: 'http/1.1', onRequest: (req, res) => send(req, res, text(404, 'Not Found\n')) })),
    aiGateway: await start(() => startBackend({ pki, alpn: 'h2', onRequest: aiGatewayHandler(ctx) })),
  };
}
