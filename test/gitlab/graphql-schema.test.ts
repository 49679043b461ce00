import { print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { CAPABILITIES_QUERY, CLOUD_CONNECTOR_STATUS_DETAILS_QUERY, CLOUD_CONNECTOR_STATUS_QUERY, GRAPHQL_DOCUMENTS } from '../../src/gitlab/graphql.js';
import { operationOf, validateDocument } from './graphql-schema.js';

/**
 * Every document the exporter sends, against GitLab's types as gitlab-duo-facts.md gives them,
 * validated by graphql-js (graphql-schema.ts).
 */

describe('the exporter GraphQL documents', () => {
  it.each(Object.entries(GRAPHQL_DOCUMENTS))('%s is valid against the documented schema', (_name, document) => {
    expect(validateDocument(document)).toEqual([]);
  });

  // Aliases and introspection fields: graphql-js knows __type and its fields without a schema line.
  it('the capabilities introspection is valid too', () => {
    expect(validateDocument(CAPABILITIES_QUERY)).toEqual([]);
  });

  it.each(Object.entries({ ...GRAPHQL_DOCUMENTS, capabilities: CAPABILITIES_QUERY }))('%s is a named query, so GitLab logs show who asked', (_name, document) => {
    const op = operationOf(document);
    expect(op.operation).toBe('query');
    expect(op.name?.value).toMatch(/^gitlabDuoExporter[A-Z]/);
  });

  // GitLab's UI query: 17.5+ (S ee/app/assets/javascripts/usage_quotas/add_on/graphql/cloud_connector_health_check.query.graphql)
  // selects errors and details; 17.3-17.4 (P @9c915b74) only name, success and message.
  it("selects exactly what GitLab's own health-check UI selects, per release (docs/gitlab-compatibility.md)", () => {
    const ui = (fields: string) => `query getCloudConnectorHealthStatus { cloudConnectorStatus { success probeResults { ${fields} } } }`;
    const selection = (document: string) => print(operationOf(document).selectionSet);
    expect(selection(CLOUD_CONNECTOR_STATUS_DETAILS_QUERY)).toBe(selection(ui('name success message errors details')));
    expect(selection(CLOUD_CONNECTOR_STATUS_QUERY)).toBe(selection(ui('name success message')));
    expect(selection(CLOUD_CONNECTOR_STATUS_QUERY)).not.toBe(selection(ui('name success message errors details')));
  });
});

describe('the validator catches mistakes', () => {
  it.each([
    ['a misspelt field', '{ currentLicence { type } }', 'Cannot query field "currentLicence" on type "Query"'],
    ['a field of the wrong type', '{ currentLicense { lastSynced } }', 'Cannot query field "lastSynced" on type "CurrentLicense"'],
    ['an object without a selection', '{ cloudConnectorStatus }', 'of type "CloudConnectorStatus" must have a selection of subfields'],
    ['a selection on a scalar', '{ currentLicense { type { name } } }', 'type "String!" has no subfields'],
    ['a nested mistake', '{ cloudConnectorStatus { probeResults { name detail } } }', 'Cannot query field "detail" on type "CloudConnectorProbeResult"'],
    ['an unknown argument', 'query q($u: String!) { user(login: $u) { id } }', 'Unknown argument "login" on field "Query.user"'],
    ['an undeclared variable', '{ user(username: $u) { id } }', 'Variable "$u" is not defined'],
    ['a variable of the wrong type', 'query q($u: Int!) { user(username: $u) { id } }', 'Variable "$u" of type "Int!" used in position expecting type "String"'],
    ['an unused variable', 'query q($u: String!) { currentLicense { type } }', 'Variable "$u" is never used in operation "q"'],
    ['a syntax error', '{ currentLicense { type }', 'syntax: Syntax Error'],
    ['a mutation', 'mutation m { currentLicense { type } }', 'only queries are expected'],
  ])('%s', (_name, document, problem) => {
    expect(validateDocument(document).join('\n')).toContain(problem);
  });
});
