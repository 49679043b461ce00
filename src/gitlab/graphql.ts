/**
 * Every GraphQL document the exporter sends, in one place so that a test can check each against
 * GitLab's schema as gitlab-duo-facts.md states it (fields, arguments, nesting).
 */

/** The licence Duo depends on (facts §2). Admin only (`read_licenses`). */
export const CURRENT_LICENSE_QUERY = `query gitlabDuoExporterCurrentLicense {
  currentLicense { type plan lastSync expiresAt }
}`;

/**
 * GitLab's own Duo health check, exactly the selection the admin UI sends (facts §1). Admin only;
 * 17.3+. Costly: GitLab runs its probes, one of them a real code completion.
 */
export const CLOUD_CONNECTOR_STATUS_QUERY = `query gitlabDuoExporterCloudConnectorStatus {
  cloudConnectorStatus { success probeResults { name success message errors details } }
}`;

/** The composite-identity service account that onboarding creates (facts §4). */
export const DUO_DEVELOPER_QUERY = `query gitlabDuoExporterDuoDeveloper($username: String!) {
  user(username: $username) { id state compositeIdentityEnforced }
}`;

export const DUO_DEVELOPER_USERNAME = 'duo-developer';

/** All of the above, by name, for the schema test. */
export const GRAPHQL_DOCUMENTS = {
  currentLicense: CURRENT_LICENSE_QUERY,
  cloudConnectorStatus: CLOUD_CONNECTOR_STATUS_QUERY,
  duoDeveloper: DUO_DEVELOPER_QUERY,
} as const;
