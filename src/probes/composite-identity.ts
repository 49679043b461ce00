import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance, secretsOf, type Credential } from '../gitlab/availability.js';
import type { InstanceEnvironment } from '../gitlab/deployment.js';
import { queryServiceAccountUser } from '../gitlab/queries.js';
import { API_PHASES, API_REASONS, type ApiContext } from '../gitlab/request.js';
import { listServiceAccounts, type ServiceAccountSummary } from '../gitlab/rest.js';
import { quote } from '../core/redact.js';
import { versionLabel } from '../gitlab/version.js';
import { agentPlatformUnused, REQUIRED } from './shared/relevance.js';
import { defineProbe, type ProbeContext, type Relevance } from './types.js';

const ONBOARDING = 'turn it on in Admin > GitLab Duo > "Turn on composite identity"';

/**
 * The account "Turn on composite identity" creates (ee/app/services/ai/duo_workflows/onboarding_service.rb):
 * `duo-developer` ("Duo Developer") from 18.5; before, a generated `service_account_…` named
 * "Duo Workflow Service", which instances onboarded then keep.
 */
function isDuoServiceAccount(account: ServiceAccountSummary): boolean {
  return account.username === 'duo-developer' || account.name === 'Duo Developer' || (account.name === 'Duo Workflow Service' && account.username.startsWith('service_account'));
}

/**
 * Composite identity (the Agent Platform acting as its service account on behalf of a user).
 * GitLab stores it in `Ai::Setting`, which no API shows; what the API does show is the service
 * account's state and, from 18.8, its `compositeIdentityEnforced` flag. Turning composite
 * identity off blocks the account. Before 18.8 it cannot be observed: the probe is skipped with
 * that reason, never failed (docs/gitlab-compatibility.md, composite_identity).
 */
export const compositeIdentity = defineProbe({
  name: 'composite_identity',
  group: 'settings',
  proves: "composite identity is turned on: the Agent Platform's service account is active with composite identity enforced",
  defaultInterval: '10m',
  defaultTimeout: '20s',
  required: true,
  phases: API_PHASES,
  reasons: [...API_REASONS, 'requirement_not_met'],
  facts: ['gitlab_duo_composite_identity_enabled'],
  token: 'admin',
  alerts: { failing: 'GitLabDuoSettingsProbeFailed', byReason: { requirement_not_met: 'GitLabDuoCompositeIdentityDisabled' } },
  advice: {
    default: 'In Admin > GitLab Duo, use Turn on composite identity (it creates the duo-developer service account), and unblock that account if it is blocked.',
  },
  availability: (instance) => needsInstance(instance, 'admin'),
  relevance: (env) => observable(env) ?? agentPlatformUnused(env) ?? REQUIRED,
  target: (instance) => (instance.url ? instanceUrl(instance, '/api/v4/service_accounts').href : ''),
  async run(ctx: ProbeContext) {
    const admin = credential(ctx.instance, 'admin')!;
    const candidates = (await listServiceAccounts(ctx, admin)).filter(isDuoServiceAccount);
    const secrets = secretsOf(ctx.instance);
    if (candidates.length === 0) {
      ctx.record.fact('gitlab_duo_composite_identity_enabled', 0);
      throw new ProbeError('requirement_not_met', `no Duo Agent Platform service account exists, so onboarding has not run: ${ONBOARDING}`);
    }
    const states = await Promise.all(candidates.slice(0, 5).map((account) => accountState(ctx, admin, account.username)));
    const on = states.find((s) => s.active && s.enforced);
    ctx.record.fact('gitlab_duo_composite_identity_enabled', on ? 1 : 0);
    if (!on) throw new ProbeError('requirement_not_met', `composite identity is not on: ${states.map((s) => describe(s, secrets)).join('; ')}`);
    ctx.record.note(`service account ${quote(on.username, secrets, 64)} is active with composite identity enforced (its OAuth application's scopes are not visible over the API)`);
  },
});

/** Before 18.8 (or where the schema could not be read) GitLab shows no composite-identity flag. */
function observable(env: InstanceEnvironment): Relevance | undefined {
  if (env.flags.composite_identity_api === true) return undefined;
  const version = env.capabilities?.version;
  if (env.flags.composite_identity_api === false) {
    return { use: 'skip', why: `cannot be determined from the API: ${version ? `GitLab ${versionLabel(version)}` : 'this GitLab'} exposes no composite-identity flag (compositeIdentityEnforced came in 18.8)` };
  }
  return { use: 'skip', why: "cannot be determined from the API: GitLab's GraphQL schema could not be read to find compositeIdentityEnforced" };
}

interface AccountState {
  readonly username: string;
  readonly active: boolean;
  readonly state: string;
  readonly enforced: boolean;
}

async function accountState(ctx: ApiContext, admin: Credential, username: string): Promise<AccountState> {
  const user = await queryServiceAccountUser(ctx, admin, username);
  const state = user?.state ?? 'missing';
  return { username, state, active: state.toLowerCase() === 'active', enforced: user?.compositeIdentityEnforced === true };
}

function describe(s: AccountState, secrets: readonly string[]): string {
  const name = quote(s.username, secrets, 64);
  if (s.state === 'missing') return `the service account ${name} is not visible over GraphQL: ${ONBOARDING}`;
  if (!s.active) return `the service account ${name} is ${quote(s.state, secrets, 40)} (turning composite identity off blocks it): ${ONBOARDING}`;
  return `the service account ${name} does not have composite identity enforced: ${ONBOARDING}`;
}
