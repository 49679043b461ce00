import type { InstanceConfig } from '../config/schema.js';
import { untilDeadline } from '../net/abort.js';
import { CONNECT_REASONS, openConnection } from '../net/connect.js';
import { credential, instanceUrl, needsInstance, secretsOf, TOKEN_DESCRIPTIONS } from '../gitlab/availability.js';
import { CABLE_REASONS, CABLE_SUBPROTOCOL, openCable, type CableSession } from '../gitlab/cable.js';
import { defineProbe, type ProbeContext } from './types.js';

/**
 * What IDE clients and the web UI do to open `wss://<instance>/-/cable`: an HTTP/1.1 upgrade with
 * `Origin` equal to the instance's own origin (ActionCable refuses any other with a 404) and the
 * `actioncable-v1-json` subprotocol, then `{"type":"welcome"}`. Without a token this proves the
 * path; with the Duo user's token, GitLab also checks it (`disconnect/unauthorized` if bad).
 */
export const websocketCable = defineProbe({
  name: 'websocket_cable',
  group: 'inbound',
  proves: 'clients can open the ActionCable WebSocket wss://<instance>/-/cable and get its welcome',
  defaultInterval: '30s',
  defaultTimeout: '10s',
  required: true,
  phases: ['dns', 'connect', 'proxy_connect', 'tls', 'upgrade', 'welcome'],
  facts: ['gitlab_duo_http_status_code'],
  // `auth` also when the Duo user token's file cannot be read for the run (credential()).
  reasons: [...CONNECT_REASONS, ...CABLE_REASONS],
  alerts: { failing: 'GitLabDuoWebSocketCableBlocked' },
  advice: {
    default: 'Every proxy in front of GitLab must pass the WebSocket upgrade on /-/cable and keep the Host header.',
    websocket_upgrade:
      'Every proxy in front of GitLab must pass Connection: upgrade and Upgrade: websocket on /-/cable and keep the Host header; a 404 means the Origin is refused (list extra host names in action_cable_allowed_origins).',
    websocket_protocol: 'Make sure /-/cable reaches GitLab Workhorse and not another service, and that nothing rewrites WebSocket frames.',
    auth: 'Action Cable refused the Duo user\u2019s token: create a new token for the exporter\u2019s Duo user and update duo_user_token.',
  },
  availability: (instance) => needsInstance(instance),
  target: (instance) => (instance.url ? cableUrl(instance).href : ''),
  async run(ctx: ProbeContext) {
    const url = cableUrl(ctx.instance);
    const secure = url.protocol === 'wss:';
    const port = url.port ? Number(url.port) : secure ? 443 : 80;
    // The WebSocket handshake is HTTP/1.1 only: offering h2 could make the server pick it.
    const connection = await openConnection({ host: url.hostname, port, tls: secure ? { alpn: ['http/1.1'] } : undefined }, ctx);
    const token = credential(ctx.instance, 'duo_user');
    const headers: Record<string, string> = { Origin: new URL(ctx.instance.url!).origin, 'User-Agent': 'gitlab-duo-exporter' };
    if (token) headers.Authorization = `Bearer ${token.secret.reveal()}`;
    let session: CableSession | undefined;
    try {
      // The phase starts before ws builds and writes its request: the server's clock starts then.
      const cable = await ctx.record.phase('upgrade', async () => {
        session = openCable({
          url,
          socket: connection.socket,
          headers,
          secrets: secretsOf(ctx.instance),
          tokenName: token ? TOKEN_DESCRIPTIONS.duo_user : undefined,
          onStatus: (status) => ctx.record.fact('gitlab_duo_http_status_code', status),
        });
        await untilDeadline(session.upgraded, ctx.signal, 'waiting for the WebSocket upgrade (101)');
        return session;
      });
      await ctx.record.phase('welcome', () => untilDeadline(cable.welcomed, ctx.signal, "waiting for ActionCable's welcome"));
      ctx.record.note(`101 Switching Protocols (${CABLE_SUBPROTOCOL}) then welcome${token ? ', with the Duo user token' : ', anonymously'}`);
    } finally {
      session?.close();
      connection.socket.destroy();
    }
  },
});

function cableUrl(instance: InstanceConfig): URL {
  const url = instanceUrl(instance, '/-/cable');
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  return url;
}
