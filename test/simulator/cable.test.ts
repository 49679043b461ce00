import { describe, expect, it } from 'vitest';
import { openCable } from './clients.js';
import { agentFor, httpRequest, useSimulator } from './helpers.js';

describe('ActionCable at /-/cable', () => {
  it('welcomes a connection without credentials and negotiates actioncable-v1-json', async () => {
    const sim = await useSimulator();
    const outcome = await openCable(sim);
    expect(outcome.protocol).toBe('actioncable-v1-json');
    expect(outcome.messages[0]).toEqual({ type: 'welcome' });
  });

  it('welcomes a valid bearer token', async () => {
    const sim = await useSimulator();
    expect((await openCable(sim, { token: sim.duoUserToken })).messages[0]).toEqual({ type: 'welcome' });
  });

  it('disconnects an invalid token as unauthorized, then closes', async () => {
    const sim = await useSimulator();
    const outcome = await openCable(sim, { token: 'glpat-revoked', waitMs: 1000 });
    expect(outcome.messages).toEqual([{ type: 'disconnect', reason: 'unauthorized', reconnect: false }]);
    expect(outcome.closed).toBe(true);
  });

  it.each([
    ['a foreign Origin', 'https://evil.example'],
    ['Origin with the wrong scheme', 'http://HOST'],
    ['no Origin', null],
  ])('refuses %s with 404 and no upgrade', async (_name, origin) => {
    const sim = await useSimulator();
    const host = new URL(sim.gitlabUrl).host;
    const outcome = await openCable(sim, { origin: origin?.replace('HOST', host) ?? null });
    expect(outcome.refusedWith).toBe(404);
    expect(outcome.refusedBody).toBe('Page not found');
  });

  it('answers a GET without upgrade headers with 400 "websocket upgrade required", over HTTP/1.1 and HTTP/2', async () => {
    const sim = await useSimulator();
    for (const agent of [agentFor(sim), agentFor(sim, { allowH2: true })]) {
      const res = await httpRequest(agent, `${sim.gitlabUrl}/-/cable`);
      expect(res.status).toBe(400);
      expect(res.text).toBe('websocket upgrade required\n');
    }
  });

  it('cable_upgrade_stripped: 400 even with upgrade headers', async () => {
    const sim = await useSimulator({ scenario: 'cable_upgrade_stripped' });
    const outcome = await openCable(sim);
    expect(outcome.refusedWith).toBe(400);
    expect(outcome.refusedBody).toBe('websocket upgrade required\n');
  });

  it('cable_bad_origin: 404 even for the instance\'s own origin', async () => {
    const sim = await useSimulator({ scenario: 'cable_bad_origin' });
    expect((await openCable(sim)).refusedWith).toBe(404);
  });

  it('still upgrades over HTTP/1.1 when the instance is downgraded', async () => {
    const sim = await useSimulator({ scenario: 'http2_downgraded' });
    expect((await openCable(sim)).messages[0]).toEqual({ type: 'welcome' });
  });

  it('rejects subscriptions: the simulator has no channels', async () => {
    const sim = await useSimulator();
    const identifier = JSON.stringify({ channel: 'GraphqlChannel' });
    const outcome = await openCable(sim, { send: { command: 'subscribe', identifier } });
    expect(outcome.messages.at(-1)).toEqual({ identifier, type: 'reject_subscription' });
  });

  it('pings every 3 s with the Unix time', async () => {
    const sim = await useSimulator();
    const outcome = await openCable(sim, { waitMs: 3400 });
    const ping = outcome.messages.find((m) => m.type === 'ping');
    expect(ping?.message).toBeTypeOf('number');
    expect(Math.abs((ping!.message as number) - Date.now() / 1000)).toBeLessThan(5);
  });
});
