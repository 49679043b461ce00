import { describe, expect, it } from 'vitest';
import { CLOUD_CONNECTOR_STATUS_DETAILS_QUERY, CLOUD_CONNECTOR_STATUS_QUERY, GRAPHQL_DOCUMENTS } from '../../src/gitlab/graphql.js';
import { parseOperation, validateDocument } from './graphql-schema.js';

/**
 * Every document the exporter sends, against GitLab's types as gitlab-duo-facts.md gives them.
 * (The `graphql` package is not a dependency; graphql-schema.ts is a small validator for our
 * own documents.)
 */

describe('the exporter GraphQL documents', () => {
  it.each(Object.entries(GRAPHQL_DOCUMENTS))('%s is valid against the documented schema', (_name, document) => {
    expect(validateDocument(document)).toEqual([]);
  });

  it.each(Object.entries(GRAPHQL_DOCUMENTS))('%s is a named query, so GitLab logs show who asked', (_name, document) => {
    const op = parseOperation(document);
    expect(op.kind).toBe('query');
    expect(op.name).toMatch(/^gitlabDuoExporter[A-Z]/);
  });

  // GitLab's UI query: 17.5+ (S ee/app/assets/javascripts/usage_quotas/add_on/graphql/cloud_connector_health_check.query.graphql)
  // selects errors and details; 17.3-17.4 (P @9c915b74) only name, success and message.
  it("selects exactly what GitLab's own health-check UI selects, per release (docs/gitlab-compatibility.md)", () => {
    const ui = (fields: string) => `query getCloudConnectorHealthStatus { cloudConnectorStatus { success probeResults { ${fields} } } }`;
    expect(parseOperation(CLOUD_CONNECTOR_STATUS_DETAILS_QUERY).selections).toEqual(parseOperation(ui('name success message errors details')).selections);
    expect(parseOperation(CLOUD_CONNECTOR_STATUS_QUERY).selections).toEqual(parseOperation(ui('name success message')).selections);
  });
});

describe('the validator catches mistakes', () => {
  it.each([
    ['a misspelt field', '{ currentLicence { type } }', 'no field currentLicence on Query'],
    ['a field of the wrong type', '{ currentLicense { lastSynced } }', 'no field lastSynced on CurrentLicense'],
    ['an object without a selection', '{ cloudConnectorStatus }', 'CloudConnectorStatus needs a selection'],
    ['a selection on a scalar', '{ currentLicense { type { name } } }', 'String is a leaf'],
    ['a nested mistake', '{ cloudConnectorStatus { probeResults { name detail } } }', 'no field detail on CloudConnectorProbeResult'],
    ['an unknown argument', 'query q($u: String!) { user(login: $u) { id } }', 'no argument login'],
    ['an undeclared variable', '{ user(username: $u) { id } }', '$u is not declared'],
    ['a variable of the wrong type', 'query q($u: Int!) { user(username: $u) { id } }', '$u is Int!, username takes String'],
    ['an unused variable', 'query q($u: String!) { currentLicense { type } }', '$u is declared but not used'],
    ['a syntax error', '{ currentLicense { type }', 'syntax'],
    ['a mutation', 'mutation m { currentLicense { type } }', 'only queries'],
  ])('%s', (_name, document, problem) => {
    expect(validateDocument(document).join('\n')).toContain(problem);
  });
});
