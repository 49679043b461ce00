import { ProbeError } from '../errors.js';
import { credential, instanceUrl, needsInstance, secretsOf, type Credential } from '../gitlab/availability.js';
import { DUO_DEVELOPER_USERNAME } from '../gitlab/graphql.js';
import { GraphQLFieldMissingError } from '../gitlab/graphql-client.js';
import { queryDuoDeveloper } from '../gitlab/queries.js';
import { API_PHASES, type ApiContext } from '../gitlab/request.js';
import { findUser, getApplicationSettings } from '../gitlab/rest.js';
import { quote } from '../gitlab/text.js';
import { defineProbe, type ProbeContext } from './types.js';

const ONBOARDING = 'turn it on in Admin > GitLab Duo > "Turn on composite identity"';

/** What the API shows of the service account; `enforced` undefined when GitLab cannot say. */
interface ServiceAccount {
  readonly state: string;
  readonly enforced: boolean | undefined;
}

/**
 * Composite identity (the Duo Agent Platform acting as "duo-developer" on behalf of a user).
 * GitLab has no single API field for it (facts §4), so this approximates `Ai::DuoWorkflow.available?`
 * from what the API shows: the onboarding's OAuth application is set, and the service account
 * exists, is active and has composite identity enforced.
 */
export const compositeIdentity = defineProbe({
  name: 'composite_identity',
  group: 'settings',
  proves: 'composite identity is turned on: the Agent Platform OAuth application and an active duo-developer service account',
  defaultInterval: '10m',
  defaultTimeout: '20s',
  required: true,
  phases: API_PHASES,
  facts: ['gitlab_duo_composite_identity_enabled'],
  token: 'admin',
  availability: (instance) => needsInstance(instance, 'admin'),
  target: (instance) => (instance.url ? instanceUrl(instance, '/api/v4/application/settings').href : ''),
  async run(ctx: ProbeContext) {
    const admin = credential(ctx.instance, 'admin')!;
    const settings = await getApplicationSettings(ctx, admin);
    const account = await serviceAccount(ctx, admin);
    const problems = judge(settings.duo_workflow_oauth_application_id, account, secretsOf(ctx.instance));
    ctx.record.fact('gitlab_duo_composite_identity_enabled', problems.length === 0 ? 1 : 0);
    if (problems.length > 0) throw new ProbeError('requirement_not_met', `composite identity is not on: ${problems.join('; ')}`);
    const unverified = account?.enforced === undefined ? ' (this GitLab does not expose compositeIdentityEnforced; enforcement not verified)' : '';
    ctx.record.note(`OAuth application ${settings.duo_workflow_oauth_application_id} and ${DUO_DEVELOPER_USERNAME} active${unverified}`);
  },
});

/** GraphQL first (it has the enforcement flag); REST for the state when the field is missing. */
async function serviceAccount(ctx: ApiContext, admin: Credential): Promise<ServiceAccount | undefined> {
  try {
    const user = await queryDuoDeveloper(ctx, admin);
    return user ? { state: user.state, enforced: user.compositeIdentityEnforced ?? undefined } : undefined;
  } catch (err) {
    if (!(err instanceof GraphQLFieldMissingError && err.field === 'compositeIdentityEnforced')) throw err;
  }
  const user = await findUser(ctx, admin, DUO_DEVELOPER_USERNAME);
  return user ? { state: user.state, enforced: undefined } : undefined;
}

function judge(oauthApplicationId: number | null | undefined, account: ServiceAccount | undefined, secrets: readonly string[]): string[] {
  const problems: string[] = [];
  if (oauthApplicationId === undefined) {
    problems.push('this GitLab does not expose duo_workflow_oauth_application_id (composite identity needs GitLab 18.3 or later)');
  } else if (oauthApplicationId === null) {
    problems.push(`duo_workflow_oauth_application_id is not set, so onboarding has not run: ${ONBOARDING}`);
  }
  if (!account) {
    problems.push(`the service account ${DUO_DEVELOPER_USERNAME} does not exist: ${ONBOARDING}`);
    return problems;
  }
  if (account.state.toLowerCase() !== 'active') {
    problems.push(`the service account ${DUO_DEVELOPER_USERNAME} is ${quote(account.state, secrets, 40)}, not active: unblock it in Admin > Users`);
  }
  if (account.enforced === false) problems.push(`${DUO_DEVELOPER_USERNAME} does not have composite identity enforced: ${ONBOARDING}`);
  return problems;
}
