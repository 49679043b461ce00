import { describe, expect, it } from 'vitest';
import { PROBES } from '../../src/probes/index.js';
import { CAUSAL_GRAPH } from '../../src/report/causes.js';

/**
 * The causal graph's chains of probes that share a token (src/report/causes.ts) are written in
 * order by hand: the order names the root among probes failing alike, a judgement no probe
 * declaration holds. Their members, though, follow from the declarations: held to them here, so
 * that a probe added with a token joins its chain (the instance chain: causes.test.ts).
 */

/** A sharedPath chain's probes, in order: each edge's cause, then the last edge's effects. */
function chain(id: string): string[] {
  const edges = CAUSAL_GRAPH.filter((e) => e.id.startsWith(`${id}/`));
  expect(edges.length, id).toBeGreaterThan(0);
  return [...edges.map((e) => e.cause.probe), ...edges.at(-1)!.effects.map((e) => e.probe)];
}

const sorted = (names: readonly string[]): string[] => [...names].sort();

describe('the token chains of the causal graph', () => {
  it('admin_token: every probe that declares the admin token, but exporter_tokens (which checks every configured token)', () => {
    const declared = PROBES.filter((p) => p.token === 'admin' && p.name !== 'exporter_tokens').map((p) => p.name);
    expect(sorted(chain('admin_token'))).toEqual(sorted(declared));
  });

  it('duo_token: every probe that declares the Duo user token, and websocket_cable, which sends it when configured', () => {
    const declared = PROBES.filter((p) => p.token === 'duo_user').map((p) => p.name);
    expect(sorted(chain('duo_token'))).toEqual(sorted([...declared, 'websocket_cable']));
  });

  it('a token without a scope: the Duo user token’s edge names every probe that declares a scope of it', () => {
    const declared = PROBES.filter((p) => p.scopes?.some((need) => need.token === 'duo_user')).map((p) => p.name);
    const edge = CAUSAL_GRAPH.find((e) => e.id === 'duo_user_token_scope')!;
    expect(sorted(edge.effects.map((e) => e.probe))).toEqual(sorted(declared));
  });
});
