import { z } from 'zod';
import { ProbeError } from '../core/errors.js';
import { credential, secretsOf, type Credential } from './availability.js';
import { graphqlQuery } from './graphql-client.js';
import { CAPABILITIES_QUERY, deploymentQuery } from './graphql.js';
import type { ApiContext } from './request.js';
import { getApplicationSettings, getMetadata, type ApplicationSettings } from './rest.js';
import { quote } from '../core/redact.js';
import { parseVersion, type GitLabVersion } from './version.js';

/**
 * What one GitLab instance offers, learnt from its own answers (docs/gitlab-compatibility.md):
 * the version, the GraphQL fields the probes select (introspection, so a query never names a
 * field this release lacks) and the settings that say how Duo is deployed. Anything that could
 * not be read stays undefined, and the probes then fall back to what every release accepts.
 */
export interface Capabilities {
  readonly detectedAt: number;
  /** `GET /api/v4/metadata`'s version, parsed; undefined when GitLab did not say. */
  readonly version: GitLabVersion | undefined;
  /** GraphQL type name → its field names; a type GitLab does not have maps to an empty set. */
  readonly fields: ReadonlyMap<string, ReadonlySet<string>> | undefined;
  /** Admin-only observations; undefined when no admin token or GitLab refused. */
  readonly settings: DeploymentSettings | undefined;
  /** What could not be detected and why (shown in the report, never a failure by itself). */
  readonly problems: readonly string[];
}

/** The answers that decide the deployment profile and whether the Agent Platform is in use. */
export interface DeploymentSettings {
  /** `currentLicense.type`: online_cloud, offline_cloud, legacy_license; null = no licence. */
  readonly licenseType: string | null | undefined;
  /** `Ai::Setting.ai_gateway_url` is set (GraphQL `duoSettings.aiGatewayUrl`): Duo Self-Hosted. */
  readonly selfHostedAiGateway: boolean | undefined;
  /** `Ai::Setting.duo_agent_platform_service_url` is set: a self-hosted Duo Workflow Service. */
  readonly selfHostedAgentPlatform: boolean | undefined;
  readonly applicationSettings: ApplicationSettings | undefined;
}

/** GraphQL types whose fields the probes care about (the introspection asks for these only). */
export const INTROSPECTED_TYPES = {
  query: 'Query',
  probeResult: 'CloudConnectorProbeResult',
  user: 'UserCore',
  duoSettings: 'DuoSettings',
} as const;

const typeFields = z
  .object({ fields: z.array(z.object({ name: z.string() })).max(5000).nullable() })
  .nullable();

const introspection = z.object(Object.fromEntries(Object.keys(INTROSPECTED_TYPES).map((alias) => [alias, typeFields])) as Record<keyof typeof INTROSPECTED_TYPES, typeof typeFields>);

/**
 * Reads the version, the GraphQL fields and (with the admin token) the deployment settings.
 * Each part fails alone: a refusal or an older GitLab leaves that part undefined with a problem
 * named, so one missing permission never hides what the rest could tell.
 */
export async function detectCapabilities(ctx: ApiContext): Promise<Capabilities> {
  const token = credential(ctx.instance, 'admin') ?? credential(ctx.instance, 'duo_user');
  if (!token) throw new ProbeError('requirement_not_met', 'no token configured: GitLab cannot be asked what it offers');
  const problems: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };
  const metadata = await attempt('version', () => getMetadata(ctx, token));
  const version = metadata ? parseVersion(metadata.version) : undefined;
  if (metadata && !version) problems.push(`version: "${quote(metadata.version, secretsOf(ctx.instance), 40)}" is not major.minor[.patch]`);
  const fields = await attempt('GraphQL schema', () => introspect(ctx, token));
  // Nothing learnt at all (GitLab down, wrong URL): not an answer to cache.
  if (!metadata && !fields) throw new ProbeError('unexpected_response', problems.join('; '));
  const admin = credential(ctx.instance, 'admin');
  const settings = admin ? await deploymentSettings(ctx, admin, fields, attempt) : undefined;
  if (!admin) problems.push('deployment settings: no admin token, so the licence type and Duo Self-Hosted settings are unknown');
  return { detectedAt: Date.now(), version, fields, settings, problems };
}

async function introspect(ctx: ApiContext, token: Credential): Promise<Map<string, Set<string>>> {
  const data = await graphqlQuery(ctx, { document: CAPABILITIES_QUERY, credential: token, what: 'the GraphQL schema (introspection)' }, introspection);
  // Every GraphQL schema has a Query type with fields: an answer without one is no answer.
  if (!data.query?.fields?.length) throw new ProbeError('unexpected_response', 'the introspection answer has no Query type');
  const fields = new Map<string, Set<string>>();
  for (const [alias, typeName] of Object.entries(INTROSPECTED_TYPES)) {
    const type = data[alias as keyof typeof INTROSPECTED_TYPES];
    fields.set(typeName, new Set((type?.fields ?? []).map((f) => f.name)));
  }
  return fields;
}

type Attempt = <T>(what: string, fn: () => Promise<T>) => Promise<T | undefined>;

const deploymentData = z.object({
  currentLicense: z.object({ type: z.string() }).nullable().optional(),
  duoSettings: z
    .object({ aiGatewayUrl: z.string().nullable().optional(), duoAgentPlatformServiceUrl: z.string().nullable().optional() })
    .nullable()
    .optional(),
});

async function deploymentSettings(
  ctx: ApiContext,
  admin: Credential,
  fields: ReadonlyMap<string, ReadonlySet<string>> | undefined,
  attempt: Attempt,
): Promise<DeploymentSettings> {
  const applicationSettings = await attempt('application settings', () => getApplicationSettings(ctx, admin));
  const document = deploymentQuery(fields);
  const data = document ? await attempt('licence and Duo settings', () => graphqlQuery(ctx, { document, credential: admin, what: 'the licence and Duo settings' }, deploymentData)) : undefined;
  const duo = data?.duoSettings;
  return {
    licenseType: data === undefined ? undefined : data.currentLicense === undefined ? undefined : (data.currentLicense?.type ?? null),
    selfHostedAiGateway: duo === undefined || duo === null || duo.aiGatewayUrl === undefined ? undefined : Boolean(duo.aiGatewayUrl),
    selfHostedAgentPlatform: duo === undefined || duo === null || duo.duoAgentPlatformServiceUrl === undefined ? undefined : Boolean(duo.duoAgentPlatformServiceUrl),
    applicationSettings,
  };
}

/** Whether `type` has `field`: true/false from introspection, undefined when it was not read. */
export function hasField(caps: Capabilities | undefined, type: string, field: string): boolean | undefined {
  const fields = caps?.fields?.get(type);
  return fields === undefined ? undefined : fields.has(field);
}
