import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { json, send, text } from './http-util.js';
import { SCENARIOS, isScenarioName, type ScenarioName } from './scenarios.js';
import { closeServer, listen } from './tls-server.js';

export interface ControlTarget {
  scenario(): ScenarioName;
  setScenario(name: ScenarioName): void;
}

export interface Control {
  readonly url: string;
  close(): Promise<void>;
}

const LIST = SCENARIOS.map(({ name, description, affects }) => ({ name, description, affects }));

function current(target: ControlTarget) {
  return { current: target.scenario(), scenarios: LIST };
}

/**
 * The plain-HTTP control endpoint on loopback, for demos and alert fire drills:
 * `GET /scenario`, `PUT|POST /scenario/<name>`, `GET /healthz`. No auth: bind it to loopback only.
 */
/** `urlHost` is the address clients use (127.0.0.1 when `host` is a wildcard). */
export async function startControl(target: ControlTarget, host: string, urlHost: string, port: number): Promise<Control> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    // Requests carry no body worth reading; drain whatever comes so the socket stays usable.
    req.resume();
    const path = new URL(req.url ?? '/', 'http://control.invalid').pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) return send(req, res, text(200, 'ok\n'));
    if ((path === '/scenario' || path === '/') && (method === 'GET' || method === 'HEAD')) return send(req, res, json(200, current(target)));
    const match = /^\/scenario\/([\w-]+)$/.exec(path);
    if (match && (method === 'PUT' || method === 'POST')) {
      const name = match[1]!;
      if (!isScenarioName(name)) return send(req, res, json(404, { error: `unknown scenario "${name}"`, scenarios: LIST.map((s) => s.name) }));
      target.setScenario(name);
      return send(req, res, json(200, current(target)));
    }
    send(req, res, json(404, { error: 'not found', routes: ['GET /scenario', 'PUT /scenario/<name>', 'GET /healthz'] }));
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server, port, host);
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${bound}`,
    close: () => closeServer(server, sockets),
  };
}
