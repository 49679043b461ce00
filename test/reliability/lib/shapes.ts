import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfigText } from '../../../src/config/load.js';
import { credential } from '../../../src/gitlab/availability.js';
import { CAPABILITIES_QUERY, CLOUD_CONNECTOR_STATUS_DETAILS_QUERY, CURRENT_LICENSE_QUERY, deploymentQuery, SERVICE_ACCOUNT_QUERY } from '../../../src/gitlab/graphql.js';
import { apiRequest, API_PHASES, type ApiContext } from '../../../src/gitlab/request.js';
import { COMPLETION_REQUEST } from '../../../src/gitlab/rest.js';
import { loadCloudflareRanges } from '../../../src/net/cloudflare.js';
import { buildPlan } from '../../../src/runner/plan.js';
import { RunRecorder } from '../../../src/runner/recorder.js';
import { exporterInstanceConfig, startSimulator } from '../../../src/simulator/index.js';

/**
 * Real GitLab answers, as the simulator gives them in its healthy scenario, fetched with the
 * exporter's own API client: the fault server answers with them where its fault does not apply,
 * and the API fuzz mutates them. One source of truth for "what GitLab says", no hand-copied JSON.
 */

export type ShapeKey =
  | 'GET /api/v4/metadata'
  | 'GET /api/v4/application/settings'
  | 'GET /api/v4/service_accounts'
  | 'POST /api/v4/code_suggestions/completions'
  | 'GET /api/v4/ai/duo_workflows/list_tools'
  | 'GET /api/v4/personal_access_tokens/self'
  | 'graphql currentLicense'
  | 'graphql cloudConnectorStatus'
  | 'graphql user'
  | 'graphql capabilities'
  | 'graphql deployment';

export type Shapes = Readonly<Record<ShapeKey, unknown>>;

interface Call {
  readonly key: ShapeKey;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly token: 'admin' | 'duo_user';
  readonly json?: unknown;
}

const CALLS: readonly Call[] = [
  { key: 'GET /api/v4/metadata', method: 'GET', path: '/api/v4/metadata', token: 'admin' },
  { key: 'GET /api/v4/application/settings', method: 'GET', path: '/api/v4/application/settings', token: 'admin' },
  { key: 'GET /api/v4/service_accounts', method: 'GET', path: '/api/v4/service_accounts?per_page=100', token: 'admin' },
  { key: 'POST /api/v4/code_suggestions/completions', method: 'POST', path: '/api/v4/code_suggestions/completions', token: 'duo_user', json: COMPLETION_REQUEST },
  { key: 'GET /api/v4/ai/duo_workflows/list_tools', method: 'GET', path: '/api/v4/ai/duo_workflows/list_tools', token: 'duo_user' },
  // The Duo user's token details: served for both tokens, their scopes (ai_features, read_api) pass
  // both checks (the admin's admin_mode is then read from the settings, which answer).
  { key: 'GET /api/v4/personal_access_tokens/self', method: 'GET', path: '/api/v4/personal_access_tokens/self', token: 'duo_user' },
  { key: 'graphql currentLicense', method: 'POST', path: '/api/graphql', token: 'admin', json: { query: CURRENT_LICENSE_QUERY, variables: {} } },
  { key: 'graphql cloudConnectorStatus', method: 'POST', path: '/api/graphql', token: 'admin', json: { query: CLOUD_CONNECTOR_STATUS_DETAILS_QUERY, variables: {} } },
  { key: 'graphql user', method: 'POST', path: '/api/graphql', token: 'admin', json: { query: SERVICE_ACCOUNT_QUERY, variables: { username: 'duo-developer' } } },
  { key: 'graphql capabilities', method: 'POST', path: '/api/graphql', token: 'admin', json: { query: CAPABILITIES_QUERY, variables: {} } },
  { key: 'graphql deployment', method: 'POST', path: '/api/graphql', token: 'admin', json: { query: deploymentQuery(new Map([['Query', new Set(['currentLicense', 'duoSettings'])], ['DuoSettings', new Set(['aiGatewayUrl', 'duoAgentPlatformServiceUrl'])]])), variables: {} } },
];

let captured: Promise<Shapes> | undefined;

/** Starts the simulator once per test file, asks it every call the probes make, and closes it. */
export function realShapes(): Promise<Shapes> {
  captured ??= capture();
  return captured;
}

async function capture(): Promise<Shapes> {
  const sim = await startSimulator();
  const dir = mkdtempSync(join(tmpdir(), 'gde-shapes-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), sim.caPem);
    const config = await parseConfigText(stringify({ instances: [exporterInstanceConfig(sim, join(dir, 'ca.pem'))] }), 'shapes', { env: {} });
    const planned = buildPlan(config, loadCloudflareRanges(), {}).probes[0]!;
    const shapes: Partial<Record<ShapeKey, unknown>> = {};
    for (const call of CALLS) {
      const ctx: ApiContext = { instance: planned.instance, net: planned.net, signal: AbortSignal.timeout(5000), record: new RunRecorder(API_PHASES) };
      const res = await apiRequest(ctx, { method: call.method, path: call.path, credential: credential(planned.instance, call.token), json: call.json });
      if (res.status !== 200 || res.json === undefined) throw new Error(`the simulator answered ${call.key} with ${res.status}`);
      shapes[call.key] = res.json;
    }
    return shapes as Shapes;
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Which captured answer a request to the fake GitLab stands for; undefined for anything else. */
export function shapeKeyFor(method: string, path: string, body: string): ShapeKey | undefined {
  const bare = path.replace(/\?.*$/, '');
  if (method === 'POST' && bare === '/api/graphql') {
    if (body.includes('__type(')) return 'graphql capabilities';
    if (body.includes('gitlabDuoExporterDeployment')) return 'graphql deployment';
    if (body.includes('currentLicense')) return 'graphql currentLicense';
    if (body.includes('cloudConnectorStatus')) return 'graphql cloudConnectorStatus';
    if (body.includes('user(')) return 'graphql user';
    return undefined;
  }
  const key = `${method} ${bare}`;
  return CALLS.some((c) => c.key === key) ? (key as ShapeKey) : undefined;
}

