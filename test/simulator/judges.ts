import type { Agent } from 'undici';
import type { ExporterProbe, Simulator } from '../../src/simulator/index.js';
import { grpcHealth, http2Get, openCable } from './clients.js';
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

async function adminSettings(sim: Simulator, agent: Agent): Promise<Record<string, unknown>> {
  const res = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/application/settings`, { headers: bearer(sim.adminToken) });
  return JSON.parse(res.text) as Record<string, unknown>;
}

export const JUDGES: Record<Exclude<ExporterProbe, 'proxy_env'>, Judge> = {
  customers_portal: (sim, agent) => reachable(agent, sim.customersPortalUrl),
  cloud_connector: (sim, agent) => reachable(agent, sim.cloudConnectorUrl),
  async duo_workflow_service(sim) {
    if ((await negotiateAlpn(sim, sim.duoWorkflowService, ['h2'])) !== 'h2') return false;
    const answer = await grpcHealth(sim, '');
    return answer.code === 0 && answer.status === 'SERVING';
  },
  async ai_gateway(sim, agent) {
    const healthz = await httpRequest(agent, `${sim.aiGatewayUrl}/monitoring/healthz`);
    const ready = await httpRequest(agent, `${sim.aiGatewayUrl}/monitoring/ready`);
    return healthz.status === 200 && ready.status === 200;
  },
  async websocket_cable(sim) {
    const outcome = await openCable(sim, { token: sim.duoUserToken });
    return outcome.messages[0]?.type === 'welcome';
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
    const res = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/ai/duo_workflows/list_tools`, { headers: bearer(sim.duoUserToken) });
    return res.status === 200;
  },
  async instance_settings(sim, agent) {
    const s = await adminSettings(sim, agent);
    return s.silent_mode_enabled === false && s.duo_features_enabled === true && s.duo_availability !== 'never_on';
  },
  async composite_identity(sim, agent) {
    const s = await adminSettings(sim, agent);
    if (s.duo_workflow_oauth_application_id === null || s.duo_workflow_oauth_application_id === undefined) return false;
    const { body } = await graphql(agent, sim, sim.adminToken, '{ user(username: "duo-developer") { id state compositeIdentityEnforced } }');
    const user = body.data?.user as { state?: string; compositeIdentityEnforced?: boolean } | null | undefined;
    return !body.errors && user?.state === 'active' && user.compositeIdentityEnforced === true;
  },
  async version(sim, agent) {
    const res = await httpRequest(agent, `${sim.gitlabUrl}/api/v4/metadata`, { headers: bearer(sim.adminToken) });
    const [major = 0, minor = 0] = ((JSON.parse(res.text) as { version: string }).version.match(/\d+/g) ?? []).map(Number);
    return major > 17 || (major === 17 && minor >= 2);
  },
};
