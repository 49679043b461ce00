import { buildSchema, GraphQLError, Kind, parse, validate, type DocumentNode, type OperationDefinitionNode } from 'graphql';

/**
 * GitLab's GraphQL types as gitlab-duo-facts.md states them (§1, §2, §4), only what it names, in
 * SDL; graphql-js parses the exporter's documents and validates them against it (every rule of
 * the spec: fields, arguments, variables and their types, leaf and object selections).
 */
export const GITLAB_SDL = `
scalar Time
scalar Date
scalar JSON
scalar UserID
scalar NamespaceID
scalar UserState

type Query {
  cloudConnectorStatus: CloudConnectorStatus
  currentLicense: CurrentLicense
  user(id: UserID, username: String): UserCore
  currentUser: CurrentUser
  metadata: Metadata
  duoSettings: DuoSettings
  addOnPurchases(namespaceId: NamespaceID): [AddOnPurchase!]
}

type CloudConnectorStatus { success: Boolean probeResults: [CloudConnectorProbeResult!] }
type CloudConnectorProbeResult { name: String success: Boolean message: String errors: [String!] details: JSON }

type CurrentLicense {
  id: ID! type: String! plan: String! name: String email: String company: String
  startsAt: Date createdAt: Date expiresAt: Date blockChangesAt: Date activatedAt: Date lastSync: Time
  usersInLicenseCount: Int billableUsersCount: Int maximumUserCount: Int usersOverLicenseCount: Int trial: Boolean
}

type UserCore { id: UserID! username: String! name: String! state: UserState! compositeIdentityEnforced: Boolean }
type CurrentUser { id: UserID! username: String! duoCodeSuggestionsAvailable: Boolean duoChatAvailable: Boolean }
type Metadata { version: String! revision: String! enterprise: Boolean! }
type DuoSettings { aiGatewayUrl: String duoAgentPlatformServiceUrl: String duoCoreFeaturesEnabled: Boolean updatedAt: Time }
type AddOnPurchase { id: ID! name: String! purchasedQuantity: Int! assignedQuantity: Int! }
`;

export const GITLAB_SCHEMA = buildSchema(GITLAB_SDL);

/** The document's only operation; throws when it has none or several (ours have exactly one). */
export function operationOf(source: string): OperationDefinitionNode {
  const operations = parse(source).definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (operations.length !== 1) throw new Error(`expected one operation, found ${operations.length}`);
  return operations[0]!;
}

/** Every problem with `source` against GITLAB_SCHEMA, in graphql-js's words; empty when valid. */
export function validateDocument(source: string): string[] {
  let document: DocumentNode;
  try {
    document = parse(source);
  } catch (err) {
    if (err instanceof GraphQLError) return [`syntax: ${err.message}`];
    throw err;
  }
  // graphql-js 16's validate() leaves root types to execute(), so a mutation passes it.
  const notQueries = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION && d.operation !== 'query');
  return [...notQueries.map(() => 'only queries are expected'), ...validate(GITLAB_SCHEMA, document).map((error) => error.message)];
}
