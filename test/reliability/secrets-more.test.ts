import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { WebSocketServer } from 'ws';
import { stringify } from 'yaml';
import { writeFigures } from '../../reliability/lib/figures.js';
import { startApp, type App } from '../../src/app.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { LogFormat } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { HOST, json, pki, startFakeGitLab, type FakeReply, type Handler } from '../helpers/fake-gitlab.js';
import { startConnectProxy } from '../helpers/proxy.js';
import { closedPort, LOOPBACK } from '../helpers/servers.js';
import { httpGet } from './lib/daemon.js';
import { nodes, setAt } from './lib/mutate.js';
import { realShapes, shapeKeyFor, type Shapes } from './lib/shapes.js';

/**
 * Issue #6, part 5: what test/secrets.test.ts does not cover. Tokens reach the exporter
 * every way they can (inline, token file, `${VAR}`, the proxy URL's password from the config and
 * from HTTPS_PROXY); two hostile GitLabs echo them back, one in 200 answers and one in errors.
 * Scanned for every sentinel: the daemon's logs at debug in logfmt and pretty, /metrics, the
 * status page, both reports, every result message, a refused reload (answer and log), `check`
 * through the real CLI in all three formats with its logs, and config errors that quote values.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/gitlab-duo-exporter.js', import.meta.url));
const S = {
  inlineAdmin: 'sentinel-sec-inline-admin-41c9e2',
  fileDuo: 'sentinel-sec-file-duo-7b2d90',
  envAdmin: 'sentinel-sec-env-admin-c03f18',
  envDuo: 'sentinel-sec-env-duo-5e6a77',
  fileAgent: 'sentinel-sec-file-agent-3c71aa',
  envAgent: 'sentinel-sec-env-agent-94d2e0',
  configProxyPassword: 'sentinel-sec-cfgproxy-pw-9d1b',
  envProxyPassword: 'sentinel-sec-envproxy-pw-2f8c',
  railsProxyPassword: 'sentinel-sec-rails-pw-6a3e04',
  urlUserinfo: 'sentinel-sec-userinfo-d84b1c',
  gitlabShaped: 'glpat-SentinelShaped0123456789',
} as const;
const SENTINELS = Object.values(S);

let scanned = 0;
let found = 0;
const findings: string[] = [];

/** Every sentinel (and its first 16 characters, the longest a label keeps) must be absent. */
function scan(where: string, text: string): void {
  scanned++;
  for (const sentinel of SENTINELS) {
    for (const piece of [sentinel, sentinel.slice(0, 16)]) {
      if (text.includes(piece)) {
        found++;
        findings.push(`${where}: ${piece}`);
        expect.soft(text, `${where} contains ${piece}`).not.toContain(piece);
        break;
      }
    }
  }
}

/** A copy of `shape` with the token appended to every string: GitLab echoing what it got. */
function echoLeaves(shape: unknown, token: string): unknown {
  let out = shape;
  for (const node of nodes(shape)) if (typeof node.value === 'string') out = setAt(out, node.path, `${node.value} ${token}`);
  return out;
}

function echoing(mode: 'ok' | 'error', shapes: Shapes): Handler {
  let n = 0;
  return (req): FakeReply => {
    const authorization = String(req.headers.authorization ?? '');
    const token = authorization.replace(/^Bearer /, '');
    const key = shapeKeyFor(req.method, req.url, req.body);
    if (mode === 'ok') return key ? json(200, echoLeaves(shapes[key], token)) : json(404, { message: `404 ${authorization}` });
    if (key?.startsWith('graphql')) return json(200, { data: null, errors: [{ message: `echo ${authorization}` }, { message: token }] });
    const status = [400, 401, 403, 422, 429, 500][n++ % 6]!;
    return json(status, { message: `${status} ${authorization}`, error: token, error_description: `token ${token}` }, { 'retry-after': '1' });
  };
}

async function hostileGitLab(mode: 'ok' | 'error', shapes: Shapes) {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: () => 'actioncable-v1-json' });
  onTestFinished(() => void wss.close());
  return startFakeGitLab(echoing(mode, shapes), (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => undefined);
      const authorization = String(req.headers.authorization);
      ws.send(JSON.stringify(mode === 'ok' ? { type: authorization } : { type: 'disconnect', reason: authorization }));
    }),
  );
}

interface World {
  readonly dir: string;
  readonly configPath: string;
  readonly env: Record<string, string>;
}

/** Two hostile GitLabs behind two proxies, and the config and environment pointing at them. */
async function world(): Promise<World> {
  const shapes = await realShapes();
  const ok = await hostileGitLab('ok', shapes);
  const error = await hostileGitLab('error', shapes);
  const hosts = { [HOST]: LOOPBACK };
  const configProxy = await startConnectProxy({ mode: 'auth', user: 'prober', password: S.configProxyPassword, hosts });
  const envProxy = await startConnectProxy({ mode: 'auth', user: 'prober', password: S.envProxyPassword, hosts });
  const dir = mkdtempSync(join(tmpdir(), 'gde-secrets-more-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), (await pki()).ca.certPem);
  writeFileSync(join(dir, 'duo.token'), `${S.fileDuo}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'agent.token'), `${S.fileAgent}\n`, { mode: 0o600 });
  for (const [name, password] of [['rails', S.railsProxyPassword], ['workhorse', 'another-password']] as const) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'HTTPS_PROXY'), `http://proxyuser:${password}@proxy.corp.invalid:3128`);
  }
  const endpoints = (port: number) => ({
    customers_portal: `https://${HOST}:${port}`,
    cloud_connector: `https://${HOST}:${port}`,
    duo_workflow_service: `${HOST}:${port}`,
    ai_gateway: `https://${HOST}:${port}`,
  });
  const configPath = join(dir, 'config.yaml');
  writeFileSync(
    configPath,
    stringify({
      instances: [
        {
          name: 'inline',
          url: `https://${HOST}:${ok.port}`,
          admin_token: S.inlineAdmin,
          duo_user_token_file: join(dir, 'duo.token'),
          agent_platform_token_file: join(dir, 'agent.token'),
          tls: { ca_file: join(dir, 'ca.pem') },
          proxy: { url: configProxy.urlWith('prober', S.configProxyPassword) },
          endpoints: endpoints(ok.port),
          proxy_env: { rails_env_dir: join(dir, 'rails'), workhorse_env_dir: join(dir, 'workhorse') },
        },
        {
          name: 'env',
          url: `https://${HOST}:${error.port}`,
          admin_token: '${GITLAB_ADMIN_TOKEN}',
          duo_user_token: '${GITLAB_DUO_TOKEN}',
          agent_platform_token: '${GITLAB_AGENT_PLATFORM_TOKEN}',
          tls: { ca_file: join(dir, 'ca.pem') },
          endpoints: endpoints(error.port),
          proxy_env: { rails_env_dir: join(dir, 'rails'), workhorse_env_dir: join(dir, 'workhorse') },
        },
      ],
      // required: hostile GitLabs cannot say what they offer; every probe runs against them anyway.
      defaults: {
        probes: {
          ...Object.fromEntries(PROBE_NAMES.map((p) => [p, { required: true }])),
          health_check: { timeout: '5s', required: true },
          code_suggestions: { timeout: '5s', required: true },
          duo_workflow_tools: { timeout: '5s', required: true },
        },
      },
      web: { listen_address: `${LOOPBACK}:0` },
    }),
  );
  const env = { GITLAB_ADMIN_TOKEN: S.envAdmin, GITLAB_DUO_TOKEN: S.envDuo, GITLAB_AGENT_PLATFORM_TOKEN: S.envAgent, HTTPS_PROXY: envProxy.urlWith('prober', S.envProxyPassword) };
  return { dir, configPath, env };
}

async function daemon(w: World, format: LogFormat): Promise<{ app: App; logs: string[] }> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', format, destination });
  const app = await startApp({ config: await loadConfigFile(w.configPath, { env: w.env }), configPath: w.configPath, logger, env: w.env, maxStartJitterMs: 0, enableLifecycle: true });
  onTestFinished(() => app.stop());
  return { app, logs };
}

async function allRan(app: App): Promise<void> {
  const planned = app.plan().probes.filter((p) => p.skippedBecause === undefined);
  const until = Date.now() + 15_000;
  while (planned.some((p) => !app.store.get(p.instance.name, p.probe.name)?.last) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  expect(planned.every((p) => app.store.get(p.instance.name, p.probe.name)?.last)).toBe(true);
}

function post(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('secrets stay secret: formats, CLI, config and reload errors', () => {
  afterAll(() => {
    const lines = [`${scanned} outputs scanned for ${SENTINELS.length} sentinel secrets (inline, file, env, proxy passwords, URL userinfo, GitLab-shaped): ${found} found`, ...findings];
    console.log(`[reliability] secrets\n  ${lines.join('\n  ')}`);
    writeFigures(REPO, 'secrets', { part: 'secrets', secretPlacesScanned: scanned, secretsFound: found, lines });
  });

  it('the daemon, logging at debug in logfmt and in pretty: logs, /metrics, status page, reports, results, a refused reload', async () => {
    const w = await world();
    const [logfmt, pretty] = await Promise.all([daemon(w, 'logfmt'), daemon(w, 'pretty')]);
    await Promise.all([allRan(logfmt.app), allRan(pretty.app)]);
    for (const [format, { app, logs }] of [['logfmt', logfmt], ['pretty', pretty]] as const) {
      // The hostile answers did reach the probes, and the logs have debug lines.
      expect(logs.some((l) => l.includes('probe run'))).toBe(true);
      // Both instances run every probe of the catalog.
      expect(app.plan().probes.filter((p) => p.skippedBecause === undefined)).toHaveLength(2 * PROBE_NAMES.length);
      for (const path of ['/metrics', '/', '/report.json', '/report.md']) scan(`${format} daemon ${path}`, (await httpGet(`${app.url()}${path}`)).body);
      const results = app.plan().probes.map((p) => app.store.get(p.instance.name, p.probe.name)?.last);
      scan(`${format} daemon results`, JSON.stringify(results));
      scan(`${format} daemon logs`, logs.join(''));
    }
    // A reload whose config errors would quote tokens: a token variable and an inline token where
    // a duration belongs, a GitLab-shaped token pasted as a key.
    const bad = (await import('node:fs')).readFileSync(w.configPath, 'utf8').replace(
      'name: env',
      `name: env\n    ${S.gitlabShaped}: oops\n    probes:\n      license: { interval: "\${GITLAB_DUO_TOKEN}", timeout: ${S.inlineAdmin} }`,
    );
    writeFileSync(w.configPath, bad);
    const answer = await post(`${logfmt.app.url()}/-/reload`);
    expect(answer.status).toBe(500);
    expect(answer.body).toContain('instances[1].probes.license.interval');
    scan('reload answer', answer.body);
    scan('reload error log', logfmt.logs.join(''));
  });

  it('check through the CLI: text, markdown and json reports, with json, logfmt and pretty logs at debug', async () => {
    const w = await world();
    const runs = await Promise.all(
      (
        [
          ['text', 'logfmt'],
          ['markdown', 'pretty'],
          ['json', 'json'],
        ] as const
      ).map(async ([format, log]) => [format, log, await cli(['check', '--config.file', w.configPath, '--format', format, '--log.level', 'debug', '--log.format', log], w.env)] as const),
    );
    for (const [format, log, run] of runs) {
      expect(run.code, `check --format ${format}: ${run.stderr.slice(0, 500)}`).toBe(1);
      expect(run.stdout.length).toBeGreaterThan(500);
      scan(`check --format ${format} (report)`, run.stdout);
      scan(`check --log.format ${log} (logs)`, run.stderr);
    }
  });

  it('config errors that quote values, through the CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gde-secrets-cfg-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const cases: Record<string, string> = {
      // A token variable put where a duration belongs, and an inline token where a timeout belongs.
      misplaced: `instances:\n  - admin_token: ${S.inlineAdmin}\n    probes:\n      license: { interval: "\${GITLAB_DUO_TOKEN}", timeout: ${S.inlineAdmin} }\n`,
      // A token pasted as a key, or as the name.
      'token as key': `instances:\n  - ${S.gitlabShaped}: x\n    name: ${S.gitlabShaped}\n`,
      // The environment-only setup, with a GITLAB_URL that is not a URL at all.
      env: '',
    };
    for (const [name, yaml] of Object.entries(cases)) {
      const env: Record<string, string> = { GITLAB_DUO_TOKEN: S.envDuo };
      const args = ['--config.check'];
      if (yaml) {
        writeFileSync(join(dir, `${name}.yaml`), yaml);
        args.push('--config.file', join(dir, `${name}.yaml`));
      } else {
        Object.assign(env, { GITLAB_URL: `gitlab:${S.urlUserinfo}`, GITLAB_ADMIN_TOKEN: S.envAdmin });
      }
      const run = await cli(args, env);
      expect(run.code, `${name}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(/^invalid configuration/);
      scan(`config error (${name})`, `${run.stdout}${run.stderr}`);
    }
  });

  it('a token in the URL userinfo (a git clone URL): not in the instance name, labels, report or logs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gde-secrets-userinfo-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const dead = await closedPort();
    const local = { customers_portal: `https://127.0.0.1:${dead}`, cloud_connector: `https://127.0.0.1:${dead}`, duo_workflow_service: `127.0.0.1:${dead}` };
    const path = join(dir, 'userinfo.yaml');
    writeFileSync(
      path,
      stringify({
        instances: [
          { url: `https://${S.urlUserinfo}@127.0.0.1:${dead}`, endpoints: local },
          { url: `https://oauth2:${S.urlUserinfo}@localhost:${dead}`, endpoints: local },
        ],
      }),
    );
    const runs = await Promise.all([
      cli(['check', '--config.file', path, '--format', 'json', '--log.level', 'debug', '--log.format', 'logfmt'], {}),
      cli(['check', '--format', 'markdown', '--log.level', 'debug', '--log.format', 'pretty'], { GITLAB_URL: `https://${S.urlUserinfo}@127.0.0.1:${dead}`, GITLAB_ADMIN_TOKEN: S.envAdmin }),
    ]);
    for (const [i, run] of runs.entries()) {
      expect(run.code, run.stderr.slice(0, 500)).toBe(1);
      scan(`check with userinfo in the URL (${i === 0 ? 'config file' : 'GITLAB_URL'})`, `${run.stdout}${run.stderr}`);
    }
    expect(JSON.parse(runs[0]!.stdout).instances.map((i: { name: string }) => i.name)).toEqual(['127.0.0.1', 'localhost']);
  });
});
