import { z } from 'zod';
import type { Credential } from './availability.js';
import { graphqlQuery } from './graphql-client.js';
import { cloudConnectorStatusQuery, CURRENT_LICENSE_QUERY, SERVICE_ACCOUNT_QUERY } from './graphql.js';
import type { ApiContext } from './request.js';

/** Typed GraphQL calls: each document of graphql.ts with the shape its data must have. */

const currentLicense = z.object({
  type: z.string(),
  plan: z.string(),
  lastSync: z.string().nullable().optional(),
  expiresAt: z.string().nullable().optional(),
});
export type CurrentLicense = z.output<typeof currentLicense>;
// Built once: zod compiles an object schema's parser on its first use (new Function), so a schema
// made per call would be compiled again at every run.
const currentLicenseData = z.object({ currentLicense: currentLicense.nullable() });

export async function queryCurrentLicense(ctx: ApiContext, credential: Credential): Promise<CurrentLicense | null> {
  const data = await graphqlQuery(
    ctx,
    { document: CURRENT_LICENSE_QUERY, credential, what: 'the current licence' },
    currentLicenseData,
  );
  return data.currentLicense;
}

const probeResult = z.object({
  name: z.string().nullable(),
  success: z.boolean().nullable(),
  message: z.string().nullable().optional(),
  errors: z.array(z.string()).nullable().optional(),
  // GraphQL `JSON`: an object, `{}` when empty; anything else is tolerated and ignored.
  details: z.unknown().optional(),
});
export type CloudConnectorProbeResult = z.output<typeof probeResult>;

const cloudConnectorStatus = z.object({
  success: z.boolean().nullable(),
  probeResults: z.array(probeResult).nullable(),
});
export type CloudConnectorStatus = z.output<typeof cloudConnectorStatus>;
const cloudConnectorStatusData = z.object({ cloudConnectorStatus: cloudConnectorStatus.nullable() });

/** Null only comes with a GraphQL error, which graphqlQuery has already turned into a failure. */
export async function queryCloudConnectorStatus(ctx: ApiContext, credential: Credential, withDetails: boolean): Promise<CloudConnectorStatus | null> {
  const data = await graphqlQuery(
    ctx,
    { document: cloudConnectorStatusQuery(withDetails), credential, what: "GitLab's Duo health check (cloudConnectorStatus)" },
    cloudConnectorStatusData,
  );
  return data.cloudConnectorStatus;
}

const serviceAccountUser = z.object({
  id: z.string(),
  state: z.string(),
  compositeIdentityEnforced: z.boolean().nullable(),
});
export type ServiceAccountUser = z.output<typeof serviceAccountUser>;
const serviceAccountUserData = z.object({ user: serviceAccountUser.nullable() });

export async function queryServiceAccountUser(ctx: ApiContext, credential: Credential, username: string): Promise<ServiceAccountUser | null> {
  const data = await graphqlQuery(
    ctx,
    { document: SERVICE_ACCOUNT_QUERY, variables: { username }, credential, what: `user ${username}` },
    serviceAccountUserData,
  );
  return data.user;
}
