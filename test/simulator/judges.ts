import type { Agent } from 'undici';
import type { ExporterProbe, Simulator } from '../../src/simulator/index.js';
import { chatOnce } from './chat-client.js';
import { grpcHealth, grpcListTools, http2Get, openCable } from './clients.js';
import { bearer, completionBody, graphql, httpRequest, negotiateAlpn } from './helpers.js';

/**
 * Each exporter probe's pass rule (architecture.md), reduced to a few lines against real clients.
 * The scenario contract test runs all of them in every scenario and compares with `affects`.
 */
type Judge = (sim: Simulator, agent: Agent) => Promise<boolean>;

const MAX_SYNC_AGE_MS = 72 * 3_600_000;
const CODE_SUGGESTIONS_TIMEOUT_MS = 1000;

async function reachable(agent: Agent, url: string): Promise<boolean> {
  // Any HTTP status counts, like GitLab's host_probe.
  return httpRequest(agent, url).then(
    () => true,
    () => false,
  );
}

async function adminGet(sim: Simulator, agent: Agent, path: string): Promise<unknown> {
  const res = await httpRequest(agent, `${sim.gitlabUrl}${path}`, { headers: bearer(sim.adminToken) });
  return res.status === 200 ? (JSON.parse(res.text) as unknown) : undefined;
}

/** The release, to leave out probes whose feature it does not have (the exporter skips them). */
async function releaseAtLeast(sim: Simulator, agent: Agent, major: number, minor: number): Promise<boolean> {
  const metadata = (await adminGet(sim, agent, '/api/v4/metadata')) as { version: string } | undefined;
  const [maj = 0, min = 0] = (metadata?.version.match(/\d+/g) ?? []).map(Number);
  return maj > major || (maj === major && min >= minor);
}

export const JUDGES: Record<Exclude<ExporterProbe, 'proxy_env'>, Judge> = {
  customers_portal: (sim, agent) => reachable(agent, sim.customersPortalUrl),
  cloud_connector: (sim, agent) => reachable(agent, sim.cloudConnectorUrl),
  async duo_workflow_service(sim) {
    if ((await negotiateAlpn(sim, sim.duoWorkflowService, ['h2'])) !== 'h2') return false;
    const answer = await grpcHealth(sim, '');
    return answer.code === 0 && answer.status === 'SERVING';
  },
  // healthz only: /monitoring/ready calls the vendors' models (docs/gitlab-compatibility.md).
  async ai_gateway(sim, agent) {
    const healthz = await httpRequest(agent, `${sim.aiGatewayUrl}/monitoring/healthz`).catch(() => undefined);
    return healthz?.status === 200;
  },
  async websocket_cable(sim) {
    const outcome = await openCable(sim, { token: sim.duoUserToken });
    return outcome.messages[0]?.type === 'welcome';
  },
  // Ask /help (or /reset before 17.5) as the web UI does; skipped like the exporter where Duo is off.
  async duo_chat(sim, agent) {
    if (!(await releaseAtLeast(sim, agent, 17, 2))) return true;
    const settings = (await adminGet(sim, agent, '/api/v4/application/settings')) as { duo_features_enabled?: boolean } | undefined;
    if (settings?.duo_features_enabled === false) return true;
    const help = await releaseAtLeast(sim, agent, 17, 5);
    // As the clients do: the subscription is addressed by the token's own user (currentUser).
    const { body } = await graphql(agent, sim, sim.duoUserToken, '{ currentUser { id } }');
    const userGid = (body.data?.currentUser as { id: string } | null | undefined)?.id;
    if (!userGid) return false;
    const wanted = (m: { role: string; chunkId: number | null }) => (help ? m.role === 'ASSISTANT' && m.chunkId === null : m.role === 'USER');
    const chat = await chatOnce(sim, agent, { content: help ? '/help' : '/reset', waitMs: 1000, until: wanted, userGid });
    const requestId = chat.mutation?.requestId;
    if (!requestId) return false;
    const mine = chat.messages.filter((m) => m.requestId === requestId);
    return mine.some(wanted);
  },
  async instance_http2(sim) {
    const answer = await http2Get(sim, '/-/health');
    return !(answer instanceof Error) && answer.alpn === 'h2' && answer.status === 200;
  },
  async license(sim, agent) {
    const { body } = await graphql(agent, sim, sim.adminToken, '{ currentLicense { type lastSync expiresAt } }');
    const license = body.data?.currentLicense as { type: string; lastSync: string | null; expiresAt: string } | null | undefined;
    if (!license || license.type !== 'online_cloud' || license.lastSync === null) return false;
    return Date.now() - Date.parse(license.lastSync) < MAX_SYNC_AGE_MS && Date.parse(license.expiresAt) > Date.now();
  },
  async health_check(sim, agent) {
    if (!(await releaseAtLeast(sim, agent, 17, 3))) return true;
    const { body } = await graphql(agent, sim, sim.adminToken, '{ cloudConnectorStatus { success probeResults { name success } } }');
    return (body.data?.cloudConnectorStatus as { success?: boolean } | null | undefined)?.success === true;
  },
  async code_suggestions(sim, agent) {
    const res = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/code_suggestions/completions`, {
      method: 'POST',
      headers: { ...bearer(sim.duoUserToken), 'content-type': 'application/json' },
      body: completionBody,
      signal: AbortSignal.timeout(CODE_SUGGESTIONS_TIMEOUT_MS),
    }).catch(() => undefined);
    if (res?.status !== 200) return false;
    const answer = JSON.parse(res.text) as { choices?: { text?: string }[] };
    return (answer.choices?.[0]?.text ?? '') !== '';
  },
  async duo_workflow_tools(sim, agent) {
    if (!(await releaseAtLeast(sim, agent, 18, 4))) return true;
    const res = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/ai/duo_workflows/list_tools`, { headers: bearer(sim.duoUserToken) });
    return res.status === 200;
  },
  // direct_access with the api token, then ListTools with what it returned (an IDE's steps).
  async agent_platform_client(sim, agent) {
    if (!(await releaseAtLeast(sim, agent, 18, 4))) return true;
    const res = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/ai/duo_workflows/direct_access`, { method: 'POST', headers: { ...bearer(sim.agentPlatformToken), 'content-type': 'application/json' }, body: '{}' });
    if (res.status !== 201) return false;
    const service = (JSON.parse(res.text) as { duo_workflow_service: { token: string; headers: Record<string, string> } }).duo_workflow_service;
    const code = await grpcListTools(sim, { ...service.headers, authorization: `Bearer ${service.token}`, 'x-gitlab-authentication-type': 'oidc' });
    return code === 0 || code === 12;
  },
  // Off and locked fails; off but unlocked (default_off) and on-and-locked do not.
  async instance_settings(sim, agent) {
    const s = (await adminGet(sim, agent, '/api/v4/application/settings')) as Record<string, unknown> | undefined;
    return s !== undefined && s.silent_mode_enabled === false && !(s.duo_features_enabled === false && s.lock_duo_features_enabled === true);
  },
  // The Agent Platform's service account, active with composite identity enforced (18.8+).
  async composite_identity(sim, agent) {
    if (!(await releaseAtLeast(sim, agent, 18, 8))) return true;
    const accounts = (await adminGet(sim, agent, '/api/v4/service_accounts')) as { username: string; name: string }[] | undefined;
    const account = accounts?.find((a) => a.username === 'duo-developer' || a.name === 'Duo Workflow Service');
    if (!account) return false;
    const { body } = await graphql(agent, sim, sim.adminToken, `{ user(username: "${account.username}") { id state compositeIdentityEnforced } }`);
    const user = body.data?.user as { state?: string; compositeIdentityEnforced?: boolean } | null | undefined;
    return !body.errors && user?.state === 'active' && user.compositeIdentityEnforced === true;
  },
  version: (sim, agent) => releaseAtLeast(sim, agent, 17, 2),
  // Both tokens' own details: the admin's reads (read_api or api) and, where Admin Mode refuses it
  // administrator rights, has admin_mode; the Duo user's has ai_features (or api) and, where
  // list_tools exists, read_api (or api).
  async exporter_tokens(sim, agent) {
    const scopesOf = async (token: string): Promise<string[] | undefined> => {
      const res = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/personal_access_tokens/self`, { headers: bearer(token) });
      return res.status === 200 ? (JSON.parse(res.text) as { scopes: string[] }).scopes : undefined;
    };
    const [admin, duo] = [await scopesOf(sim.adminToken), await scopesOf(sim.duoUserToken)];
    if (!admin || !duo) return false;
    const any = (scopes: string[], wanted: string[]) => wanted.some((s) => scopes.includes(s));
    const adminOk = any(admin, ['read_api', 'api']) && (admin.includes('admin_mode') || (await adminGet(sim, agent, '/api/v4/application/settings')) !== undefined);
    const listTools = await releaseAtLeast(sim, agent, 18, 4);
    return adminOk && any(duo, ['ai_features', 'api']) && (!listTools || any(duo, ['read_api', 'api']));
  },
};
