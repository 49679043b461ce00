/**
 * deploy/docker-compose.yml, checked without Docker (none runs where the tests run): the four
 * services, their published ports, that every bind mount points at a file of the repository, and
 * that the mounted configs address each other by the compose service names. Prometheus's config
 * is run through `promtool check config` with its in-container paths mapped back to the repository.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT, runTool } from '../assets/helpers.js';

const COMPOSE = 'deploy/docker-compose.yml';
const composeDir = join(ROOT, dirname(COMPOSE));

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  depends_on?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(join(ROOT, COMPOSE), 'utf8')) as ComposeFile;
const services = compose.services;

interface Mount {
  readonly service: string;
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** Short-syntax volumes: SOURCE:TARGET[:ro], where SOURCE may be a ${VAR:-default} (colons inside). */
function parseVolume(service: string, spec: string): Mount {
  const sourceEnd = spec.startsWith('${') ? spec.indexOf('}') + 1 : spec.indexOf(':');
  const [target = '', mode] = spec.slice(sourceEnd + 1).split(':');
  return { service, source: spec.slice(0, sourceEnd), target, readOnly: mode === 'ro' };
}
const mounts: Mount[] = Object.entries(services).flatMap(([service, s]) => (s.volumes ?? []).map((v) => parseVolume(service, v)));
const bindMounts = mounts.filter((m) => m.source.startsWith('.') || m.source.startsWith('/'));

/** The repository file behind a path inside a service's container, through its bind mounts. */
function hostPath(service: string, containerPath: string): string {
  for (const m of bindMounts.filter((b) => b.service === service)) {
    if (containerPath === m.target) return resolve(composeDir, m.source);
    if (containerPath.startsWith(`${m.target}/`)) return join(resolve(composeDir, m.source), posix.relative(m.target, containerPath));
  }
  throw new Error(`${containerPath} is not bind-mounted into ${service}`);
}

function publishedPorts(service: string): number[] {
  return (services[service]?.ports ?? []).map((p) => Number(p.split(':').at(-1)));
}

const tmp = mkdtempSync(join(tmpdir(), 'gde-compose-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('deploy/docker-compose.yml', () => {
  it('has the exporter, Prometheus, Alertmanager and Grafana, on their usual ports, bound to localhost', () => {
    expect(Object.keys(services).sort()).toEqual(['alertmanager', 'exporter', 'grafana', 'prometheus']);
    expect(publishedPorts('exporter')).toEqual([10420]);
    expect(publishedPorts('prometheus')).toEqual([9090]);
    expect(publishedPorts('alertmanager')).toEqual([9093]);
    expect(publishedPorts('grafana')).toEqual([3000]);
    for (const s of Object.values(services)) for (const p of s.ports ?? []) expect(p).toMatch(/^127\.0\.0\.1:/);
    for (const [name, s] of Object.entries(services)) {
      if (name !== 'exporter') expect(s.image, name).toMatch(/:[v\d][\w.-]*$/);
    }
  });

  it('builds the exporter from the repository\'s Dockerfile and runs it locked down', () => {
    const exporter = services.exporter!;
    const context = resolve(composeDir, exporter.build?.context ?? '.');
    expect(context).toBe(resolve(ROOT));
    expect(existsSync(join(context, exporter.build?.dockerfile ?? 'Dockerfile'))).toBe(true);
    expect(exporter.read_only).toBe(true);
    expect(exporter.cap_drop).toEqual(['ALL']);
    expect(exporter.security_opt).toContain('no-new-privileges:true');
  });

  it('every bind mount points at a file or directory of the repository, read-only', () => {
    expect(bindMounts.length).toBeGreaterThanOrEqual(6);
    for (const m of bindMounts) {
      expect(existsSync(resolve(composeDir, m.source)), `${m.service}: ${m.source}`).toBe(true);
      expect(m.readOnly, `${m.service}: ${m.source}`).toBe(true);
    }
    // Named volumes are declared; the token files are optional host files (unset → /dev/null).
    for (const m of mounts.filter((x) => !bindMounts.includes(x))) {
      if (m.source.startsWith('${')) {
        expect(m.source).toMatch(/^\$\{GITLAB_(ADMIN|DUO)_TOKEN_FILE:-\/dev\/null\}$/);
        expect(m.readOnly).toBe(true);
      } else {
        expect(Object.keys(compose.volumes ?? {}), m.source).toContain(m.source);
      }
    }
  });

  it('mounts the repository\'s rules, Alertmanager config, dashboards and provisioning', () => {
    const sources = bindMounts.map((m) => posix.normalize(posix.join('deploy', m.source)));
    for (const file of ['alerts/gitlab-duo.rules.yml', 'alerts/alertmanager.example.yml', 'dashboards/provisioning/dashboards.yml', 'dashboards']) {
      expect(sources).toContain(file);
    }
  });

  it('the exporter\'s token variables are set only when a token file is given, pointing at its mount', () => {
    const env = services.exporter!.environment ?? {};
    for (const [variable, target] of [
      ['GITLAB_ADMIN_TOKEN_FILE', '/run/secrets/gitlab-admin-token'],
      ['GITLAB_DUO_TOKEN_FILE', '/run/secrets/gitlab-duo-token'],
    ] as const) {
      expect(env[variable]).toBe(`\${${variable}:+${target}}`);
      expect(mounts.some((m) => m.service === 'exporter' && m.target === target)).toBe(true);
    }
  });

  it('Prometheus scrapes the exporter as job gitlab-duo-exporter, loads the rules and alerts Alertmanager', () => {
    const configPath = hostPath('prometheus', '/etc/prometheus/prometheus.yml');
    const config = parse(readFileSync(configPath, 'utf8')) as {
      rule_files: string[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const job = config.scrape_configs.find((s) => s.job_name === 'gitlab-duo-exporter');
    expect(job?.static_configs.flatMap((s) => s.targets)).toEqual(['exporter:10420']);
    expect(config.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))).toEqual(['alertmanager:9093']);
    expect(config.rule_files.map((f) => hostPath('prometheus', f))).toEqual([join(ROOT, 'alerts/gitlab-duo.rules.yml')]);

    // promtool, with the in-container rule path replaced by the repository file it is mounted from.
    const local = join(tmp, 'prometheus.yml');
    writeFileSync(local, stringify({ ...config, rule_files: config.rule_files.map((f) => hostPath('prometheus', f)) }));
    const run = runTool('promtool', ['check', 'config', local], 'prometheus');
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
  });

  it('Alertmanager reads the repository\'s example config at the path its command names', () => {
    const configFlag = services.alertmanager!.command?.find((c) => c.startsWith('--config.file='));
    const path = hostPath('alertmanager', configFlag!.slice('--config.file='.length));
    expect(path).toBe(join(ROOT, 'alerts/alertmanager.example.yml'));
    const promFlag = services.prometheus!.command?.find((c) => c.startsWith('--config.file='));
    expect(existsSync(hostPath('prometheus', promFlag!.slice('--config.file='.length)))).toBe(true);
  });

  it('Grafana finds the dashboards where the provisioning file says, and a Prometheus data source at prometheus:9090', () => {
    const provider = parse(readFileSync(join(ROOT, 'dashboards/provisioning/dashboards.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
    const dashboardsDir = hostPath('grafana', provider.providers[0]!.options.path);
    expect(statSync(dashboardsDir).isDirectory()).toBe(true);
    for (const f of ['gitlab-duo-overview.json', 'gitlab-duo-probe.json']) expect(existsSync(join(dashboardsDir, f)), f).toBe(true);
    expect(bindMounts.some((m) => m.service === 'grafana' && m.target.startsWith('/etc/grafana/provisioning/dashboards/'))).toBe(true);

    // The compose data source is the repository's, with the compose network's address.
    const datasourceMount = bindMounts.find((m) => m.service === 'grafana' && m.target.startsWith('/etc/grafana/provisioning/datasources/'));
    const composeDs = parse(readFileSync(resolve(composeDir, datasourceMount!.source), 'utf8')) as { datasources: Record<string, unknown>[] };
    const repoDs = parse(readFileSync(join(ROOT, 'dashboards/provisioning/datasources.yml'), 'utf8')) as { datasources: Record<string, unknown>[] };
    expect(composeDs.datasources[0]?.url).toBe('http://prometheus:9090');
    expect({ ...composeDs.datasources[0], url: undefined }).toEqual({ ...repoDs.datasources[0], url: undefined });
  });
});
