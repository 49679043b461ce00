import { has } from './release.js';
import type { Conditions } from './scenarios.js';

/**
 * The part of GitLab's GraphQL schema the exporter touches, as the simulated release has it:
 * type → field → the field's type (an object type named here, or a scalar). Validation and
 * introspection (`__type`) both read it, so a field a release lacks is refused exactly like
 * graphql-ruby refuses it: the whole document, with "Field 'x' doesn't exist on type 'T'".
 */
export type Schema = Readonly<Record<string, Readonly<Record<string, string>>>>;

const scalars = (names: readonly string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, 'Scalar']));

const LICENSE_FIELDS = [
  'id', 'type', 'plan', 'name', 'email', 'company', 'startsAt', 'createdAt', 'expiresAt', 'blockChangesAt', 'activatedAt',
  'lastSync', 'usersInLicenseCount', 'billableUsersCount', 'maximumUserCount', 'usersOverLicenseCount', 'trial',
];
const USER_FIELDS = ['id', 'username', 'name', 'state', 'webUrl', 'publicEmail', 'bot'];

export function schemaFor(c: Conditions): Schema {
  const v = c.version;
  const query: Record<string, string> = {
    __typename: 'Scalar',
    __type: '__Type',
    currentLicense: 'CurrentLicense',
    metadata: 'Metadata',
    currentUser: 'CurrentUser',
    user: 'UserCore',
  };
  if (has(v, 'healthCheck')) query.cloudConnectorStatus = 'CloudConnectorStatus';
  if (has(v, 'duoSettings')) query.duoSettings = 'DuoSettings';
  const probeResult = ['name', 'success', 'message', ...(has(v, 'probeResultDetails') ? ['errors', 'details'] : [])];
  const user = [...USER_FIELDS, ...(has(v, 'compositeIdentityField') ? ['compositeIdentityEnforced'] : [])];
  const duoSettings = ['aiGatewayUrl', 'aiGatewayTimeoutSeconds', 'updatedAt', ...(has(v, 'duoSettingsAgentPlatformUrl') ? ['duoAgentPlatformServiceUrl'] : [])];
  return {
    Query: query,
    CloudConnectorStatus: { success: 'Scalar', probeResults: 'CloudConnectorProbeResult' },
    CloudConnectorProbeResult: scalars(probeResult),
    CurrentLicense: scalars(LICENSE_FIELDS),
    Metadata: scalars(['version', 'revision', 'enterprise']),
    UserCore: scalars(user),
    CurrentUser: scalars([...user, 'admin', 'duoCodeSuggestionsAvailable', 'duoChatAvailable']),
    DuoSettings: scalars(duoSettings),
    __Type: { name: 'Scalar', kind: 'Scalar', fields: '__Field' },
    __Field: scalars(['name']),
  };
}

/** `__type(name:)`: the type's name and fields, or null for a type this release lacks. */
export function introspectType(schema: Schema, name: unknown) {
  if (typeof name !== 'string' || !Object.hasOwn(schema, name) || name.startsWith('__')) return null;
  const fields = Object.keys(schema[name]!).filter((f) => !f.startsWith('__'));
  return { name, kind: 'OBJECT', fields: fields.map((f) => ({ name: f })) };
}
