/**
 * The built-in simulator: a GitLab Self-Managed instance with Duo, the customers portal, the Cloud
 * Connector, the Duo Workflow Service and an AI gateway, all on loopback over TLS with a CA made at
 * start, and fault scenarios switchable at run time. Used by `demo`, the tests and fire drills.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { ChatBus } from './chat-bus.js';
import { startControl } from './control.js';
import { createPki } from './pki.js';
import { conditionsFor, isScenarioName, type Conditions, type ScenarioName } from './scenarios.js';
import { SERVICES, SIMULATOR_HOSTS, route, startBackends, startFronts, type Backends, type Closers, type Service } from './topology.js';
import { ADMIN_USER, AGENT_PLATFORM_USER, DUO_USER, type Caller, type Endpoints, type SimContext } from './world.js';

export { EXPORTER_PROBES, HEALTHY, SCENARIOS, SCENARIO_NAMES, conditionsFor, isScenarioName } from './scenarios.js';
export type { Conditions, ExporterProbe, Scenario, ScenarioDefinition, ScenarioName } from './scenarios.js';
export { renderScenarioTable } from './docs.js';
export { SIMULATOR_HOSTS } from './topology.js';

export interface SimulatorOptions {
  /** Address every public listener and the control endpoint bind to; default 127.0.0.1. */
  host?: string;
  scenario?: ScenarioName;
  /** Defaults to a random token; the admin's token (`read_api` + `admin_mode` in spirit). */
  adminToken?: string;
  /** Defaults to a random token; this user has a Duo seat unless the scenario says otherwise. */
  duoUserToken?: string;
  /** Defaults to a random token; agent_platform_token, with `api` unless the conditions say otherwise. */
  agentPlatformToken?: string;
  /** Port of the plain-HTTP control endpoint; default 0 (chosen by the OS). */
  controlPort?: number;
  /** Delay of the code_suggestions_slow scenario; default 3000 ms. */
  slowDelayMs?: number;
  /** How long Sidekiq takes to answer a chat question; default 50 ms. */
  chatAnswerDelayMs?: number;
  /**
   * The simulated world under every scenario: the GitLab release (`version`, default 18.9.0-ee),
   * `deployment`, the Agent Platform switch, a proxy for Rails, Admin Mode, token scopes. A
   * scenario's own conditions still win (version_too_old sets its version).
   */
  base?: Partial<Conditions>;
  logger?: Logger;
}

export interface Simulator {
  /** The generated CA (PEM), to trust in the exporter (`tls.ca_file`). */
  readonly caPem: string;
  readonly gitlabUrl: string;
  readonly customersPortalUrl: string;
  readonly cloudConnectorUrl: string;
  /** host:port, no scheme, like GitLab's DWS setting. */
  readonly duoWorkflowService: string;
  readonly aiGatewayUrl: string;
  readonly controlUrl: string;
  /** "host:port" → address pins for the exporter's `resolve:` config; no DNS needed. */
  readonly resolve: Readonly<Record<string, string>>;
  readonly adminToken: string;
  readonly duoUserToken: string;
  readonly agentPlatformToken: string;
  scenario(): ScenarioName;
  /** Throws on an unknown name. */
  setScenario(name: ScenarioName): void;
  /** Replaces the base conditions (release, deployment...) under the current scenario. */
  setBase(base: Partial<Conditions>): void;
  /** The conditions in force: base and scenario together. */
  conditions(): Conditions;
  /** Closes every listener, connection and timer; safe to call twice. */
  close(): Promise<void>;
}

export const DEFAULT_SLOW_DELAY_MS = 3000;
export const DEFAULT_CHAT_ANSWER_DELAY_MS = 50;

/**
 * One `instances[]` entry of the exporter's config (config.md) pointing at `sim`, for `demo` and
 * fire drills. `caFile` is where the caller wrote `sim.caPem`. The tokens are inline: write the
 * result only where the simulator's throw-away tokens may be read.
 */
export function exporterInstanceConfig(sim: Simulator, caFile: string, name = 'simulator') {
  return {
    name,
    url: sim.gitlabUrl,
    admin_token: sim.adminToken,
    duo_user_token: sim.duoUserToken,
    agent_platform_token: sim.agentPlatformToken,
    tls: { ca_file: caFile },
    endpoints: {
      customers_portal: sim.customersPortalUrl,
      cloud_connector: sim.cloudConnectorUrl,
      duo_workflow_service: sim.duoWorkflowService,
      // On a cloud deployment GitLab does not use it: the exporter then reports it, not counts it.
      ai_gateway: sim.aiGatewayUrl,
    },
    resolve: { ...sim.resolve },
  };
}

function randomToken(): string {
  return `glpat-${randomBytes(15).toString('base64url')}`;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function checkedScenario(name: string): ScenarioName {
  if (!isScenarioName(name)) throw new Error(`unknown scenario "${name}"`);
  return name;
}

/** Resolves a request's token to a user; this is the only place tokens are looked at. */
function callerResolver(adminToken: string, duoUserToken: string, agentPlatformToken: string): (token: string | undefined) => Caller {
  return (token) => {
    if (token === undefined || token === '') return { kind: 'anonymous' };
    if (sameToken(token, adminToken)) return { kind: 'user', user: ADMIN_USER };
    if (sameToken(token, duoUserToken)) return { kind: 'user', user: DUO_USER };
    if (sameToken(token, agentPlatformToken)) return { kind: 'user', user: AGENT_PLATFORM_USER };
    return { kind: 'invalid' };
  };
}

async function closeAll(closers: Closers): Promise<void> {
  for (const close of closers.splice(0).reverse()) await Promise.resolve(close()).catch(() => undefined);
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  // Where a client should connect when the listeners bind to every address.
  const pin = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'simulator' });
  const adminToken = options.adminToken ?? randomToken();
  const duoUserToken = options.duoUserToken ?? randomToken();
  const agentPlatformToken = options.agentPlatformToken ?? randomToken();
  const initial = checkedScenario(options.scenario ?? 'healthy');
  const state = { scenario: initial, base: options.base ?? {}, conditions: conditionsFor(initial, options.base) };
  const started: { backends?: Backends } = {};
  const closers: Closers = [];

  try {
    const pki = await createPki(Object.values(SIMULATOR_HOSTS));
    // Fronts listen first: their ports name the services the backends talk about.
    const fronts = await startFronts(host, (service) => route(service, state.conditions, started.backends), closers);
    const hostPort = (service: Service) => `${SIMULATOR_HOSTS[service]}:${fronts[service].port}`;
    const endpoints: Endpoints = {
      gitlabHost: hostPort('gitlab'),
      customersPortalUrl: `https://${hostPort('customersPortal')}`,
      cloudConnectorUrl: `https://${hostPort('cloudConnector')}`,
      duoWorkflowService: hostPort('duoWorkflowService'),
      aiGatewayUrl: `https://${hostPort('aiGateway')}`,
    };
    const ctx: SimContext = {
      conditions: () => state.conditions,
      scenario: () => state.scenario,
      endpoints,
      instanceId: randomUUID(),
      slowDelayMs: options.slowDelayMs ?? DEFAULT_SLOW_DELAY_MS,
      logger,
      caller: callerResolver(adminToken, duoUserToken, agentPlatformToken),
      dwsTokens: new Map(),
      chat: new ChatBus(),
      chatAnswerDelayMs: options.chatAnswerDelayMs ?? DEFAULT_CHAT_ANSWER_DELAY_MS,
    };
    started.backends = await startBackends(pki, ctx, closers);

    const apply = () => {
      state.conditions = conditionsFor(state.scenario, state.base);
      for (const front of Object.values(fronts)) front.refresh();
    };
    const setScenario = (name: ScenarioName) => {
      state.scenario = checkedScenario(name);
      apply();
      logger.info({ scenario: name }, 'simulator scenario switched');
    };
    const setBase = (base: Partial<Conditions>) => {
      state.base = base;
      apply();
      logger.info({ version: state.conditions.version, deployment: state.conditions.deployment }, 'simulator base conditions changed');
    };
    const control = await startControl({ scenario: () => state.scenario, setScenario }, host, pin, options.controlPort ?? 0);
    closers.push(() => control.close());

    const simulator: Simulator = {
      caPem: pki.caPem,
      gitlabUrl: `https://${endpoints.gitlabHost}`,
      customersPortalUrl: endpoints.customersPortalUrl,
      cloudConnectorUrl: endpoints.cloudConnectorUrl,
      duoWorkflowService: endpoints.duoWorkflowService,
      aiGatewayUrl: endpoints.aiGatewayUrl,
      controlUrl: control.url,
      resolve: Object.fromEntries(SERVICES.map((s) => [hostPort(s), pin])),
      adminToken,
      duoUserToken,
      agentPlatformToken,
      scenario: () => state.scenario,
      setScenario,
      setBase,
      conditions: () => state.conditions,
      close: () => closeAll(closers),
    };
    // Tokens are never logged.
    const { gitlabUrl, customersPortalUrl, cloudConnectorUrl, duoWorkflowService, aiGatewayUrl, controlUrl } = simulator;
    logger.info(
      { gitlabUrl, customersPortalUrl, cloudConnectorUrl, duoWorkflowService, aiGatewayUrl, controlUrl, scenario: state.scenario },
      'simulator started',
    );
    return simulator;
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}
