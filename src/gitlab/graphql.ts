/**
 * Every GraphQL document the exporter sends, in one place so that a test can check each against
 * GitLab's schema as gitlab-duo-facts.md states it (fields, arguments, nesting).
 */

/** The licence Duo depends on (facts §2). Admin only (`read_licenses`). */
export const CURRENT_LICENSE_QUERY = `query gitlabDuoExporterCurrentLicense {
  currentLicense { type plan lastSync expiresAt }
}`;

/**
 * GitLab's own Duo health check (docs/gitlab-compatibility.md, health_check). Admin only; 17.3+.
 * Costly: GitLab runs its probes, one of them a real code completion. `errors` and `details`
 * came later than the query itself, and graphql-ruby rejects a whole document that names a field
 * the release lacks, so they are selected only where introspection found them.
 */
export function cloudConnectorStatusQuery(withDetails: boolean): string {
  const extra = withDetails ? ' errors details' : '';
  return `query gitlabDuoExporterCloudConnectorStatus {
  cloudConnectorStatus { success probeResults { name success message${extra} } }
}`;
}

/** The selection every release with the health check accepts, and the one of newer releases. */
export const CLOUD_CONNECTOR_STATUS_QUERY = cloudConnectorStatusQuery(false);
export const CLOUD_CONNECTOR_STATUS_DETAILS_QUERY = cloudConnectorStatusQuery(true);

/**
 * Introspection of the few types the probes select from: which fields this release has. Any
 * token may ask; an unknown type comes back null.
 */
export const CAPABILITIES_QUERY = `query gitlabDuoExporterCapabilities {
  query: __type(name: "Query") { fields { name } }
  probeResult: __type(name: "CloudConnectorProbeResult") { fields { name } }
  user: __type(name: "UserCore") { fields { name } }
  duoSettings: __type(name: "DuoSettings") { fields { name } }
}`;

/**
 * The licence type and the Duo Self-Hosted settings (admin only), built from the fields the
 * introspection found; undefined when there is nothing to ask. Without introspection the
 * licence alone is asked, as every release with Duo has `currentLicense`.
 */
export function deploymentQuery(fields: ReadonlyMap<string, ReadonlySet<string>> | undefined): string | undefined {
  const query = fields?.get('Query');
  const duo = fields?.get('DuoSettings');
  const parts: string[] = [];
  if (!query || query.has('currentLicense')) parts.push('currentLicense { type }');
  const duoFields = ['aiGatewayUrl', 'duoAgentPlatformServiceUrl'].filter((f) => duo?.has(f));
  if (query?.has('duoSettings') && duoFields.length > 0) parts.push(`duoSettings { ${duoFields.join(' ')} }`);
  return parts.length === 0 ? undefined : `query gitlabDuoExporterDeployment {\n  ${parts.join('\n  ')}\n}`;
}

/**
 * A service account's state and composite-identity flag (`UserCore.compositeIdentityEnforced`,
 * 18.8+; no REST entity exposes it). Any token may read a user.
 */
export const SERVICE_ACCOUNT_QUERY = `query gitlabDuoExporterServiceAccount($username: String!) {
  user(username: $username) { id state compositeIdentityEnforced }
}`;

/** All of the above, by name, for the schema test. */
export const GRAPHQL_DOCUMENTS = {
  currentLicense: CURRENT_LICENSE_QUERY,
  cloudConnectorStatus: CLOUD_CONNECTOR_STATUS_QUERY,
  cloudConnectorStatusDetails: CLOUD_CONNECTOR_STATUS_DETAILS_QUERY,
  deployment: deploymentQuery(undefined)!,
  serviceAccount: SERVICE_ACCOUNT_QUERY,
} as const;
