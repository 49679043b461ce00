import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { stringify } from 'yaml';
import { PROBE_NAMES } from '../src/probes/index.js';
import { startDaemon } from './reliability/lib/daemon.js';
import { ADMIN_TOKEN, DUO_TOKEN, HOST, json, pki, startFakeGitLab, type FakeReply, type FakeRequest } from './helpers/fake-gitlab.js';

/**
 * No token ever leaves the exporter except on the wire to GitLab. A hostile GitLab echoes the
 * token it received into every answer (error texts, versions, licence fields, GitLab's own probe
 * messages, an ActionCable frame); the whole exporter runs every probe against it, logging at
 * debug, and neither results, logs, /metrics nor the reports may contain a token.
 */

const AGENT_TOKEN = 'sentinel-secrets-agent-platform-8e41';
const SENTINELS = [ADMIN_TOKEN, DUO_TOKEN, AGENT_TOKEN];

function tokenOf(req: FakeRequest): string {
  return String(req.headers.authorization ?? '').replace(/^Bearer /, '');
}

function hostile(req: FakeRequest): FakeReply {
  const token = tokenOf(req);
  switch (req.path) {
    case '/api/v4/metadata':
      return json(200, { version: `17.0.0-${token}`, revision: token, enterprise: true });
    case '/api/v4/application/settings':
      return json(200, { silent_mode_enabled: true, duo_features_enabled: true, duo_availability: token });
    case '/api/v4/code_suggestions/completions':
      return json(422, { error: token, message: `token ${token} has no seat` });
    case '/api/v4/ai/duo_workflows/list_tools':
      return json(400, { message: `400 Bad request - ${req.headers.authorization}` });
    case '/api/graphql':
      return graphql((req.json as { query?: string } | undefined)?.query ?? '', token);
    default:
      return json(401, { message: `401 Unauthorized: ${req.headers.authorization}` });
  }
}

function graphql(query: string, token: string): FakeReply {
  if (query.includes('currentLicense')) return json(200, { data: { currentLicense: { type: token, plan: token, lastSync: token, expiresAt: token } } });
  if (query.includes('cloudConnectorStatus')) {
    const results = [
      { name: 'host_probe', success: false, message: `${token} connection failed: ${token}`, errors: [token], details: {} },
      { name: token, success: false, message: token, errors: [], details: { updated_at: token } },
    ];
    return json(200, { data: { cloudConnectorStatus: { success: false, probeResults: results } } });
  }
  return json(200, { data: { user: { id: '1', state: token, compositeIdentityEnforced: true } }, errors: [{ message: `echo ${token}` }] });
}

describe('tokens never leak', () => {
  it('in results, notes, debug logs, /metrics, the status page or the reports', async () => {
    const wss = new WebSocketServer({ noServer: true, handleProtocols: () => 'actioncable-v1-json' });
    const server = await startFakeGitLab(hostile, (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ type: String(req.headers.authorization) }))),
    );
    const dir = mkdtempSync(join(tmpdir(), 'gde-secrets-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'ca.pem'), (await pki()).ca.certPem);
    for (const d of ['rails', 'workhorse']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'rails', 'HTTPS_PROXY'), `http://user:${ADMIN_TOKEN}@proxy.corp:3128`);

    const origin = `https://${HOST}:${server.port}`;
    const yaml = stringify({
      instances: [
        {
          name: 'hostile',
          url: origin,
          admin_token: ADMIN_TOKEN,
          duo_user_token: DUO_TOKEN,
          agent_platform_token: AGENT_TOKEN,
          tls: { ca_file: join(dir, 'ca.pem') },
          resolve: { [`${HOST}:${server.port}`]: '127.0.0.1' },
          endpoints: { customers_portal: origin, cloud_connector: origin, duo_workflow_service: `${HOST}:${server.port}`, ai_gateway: origin },
          proxy_env: { rails_env_dir: join(dir, 'rails'), workhorse_env_dir: join(dir, 'workhorse') },
        },
      ],
      // A hostile GitLab cannot be asked what it offers: forced, every probe runs against it anyway.
      defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, { required: true }])) },
      web: { listen_address: '127.0.0.1:0' },
      log: { level: 'debug' },
    });
    const { app, logs: lines } = await startDaemon(yaml);
    onTestFinished(() => app.stop());

    const planned = app.plan().probes.filter((p) => p.skippedBecause === undefined);
    expect(planned.map((p) => p.probe.name)).toHaveLength(PROBE_NAMES.length);
    const until = Date.now() + 15_000;
    while (planned.some((p) => !app.store.get(p.instance.name, p.probe.name)?.last) && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const results = planned.map((p) => app.store.get(p.instance.name, p.probe.name)?.last);
    expect(results.every((r) => r !== undefined)).toBe(true);
    // The hostile answers did reach the probes: most of them fail, quoting what GitLab said.
    expect(results.filter((r) => !r!.success).length).toBeGreaterThan(8);
    expect(server.requests.some((r) => r.headers.authorization === `Bearer ${ADMIN_TOKEN}`)).toBe(true);
    expect(server.requests.some((r) => r.headers.authorization === `Bearer ${DUO_TOKEN}`)).toBe(true);

    const pages = await Promise.all(['/metrics', '/report.json', '/report.md', '/'].map(async (path) => (await fetch(`${app.url()}${path}`)).text()));
    const everything = [JSON.stringify(results), lines.join(''), ...pages].join('\n');
    expect(lines.some((l) => l.includes('"probe run"'))).toBe(true);
    for (const token of SENTINELS) {
      expect(everything).not.toContain(token);
      // Not even a recognisable part of one (labels are cut to 16-32 characters).
      expect(everything).not.toContain(token.slice(0, 16));
    }
  });
});
