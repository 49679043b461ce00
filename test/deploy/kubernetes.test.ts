/**
 * deploy/kubernetes/: every manifest parses and is a Kubernetes object, the objects fit together
 * (selectors, ports, volume and Secret keys, the config path), the ConfigMap's config.yaml loads
 * with the exporter's own loader, and the PrometheusRule is what scripts/generate-k8s-rules.mjs
 * makes of alerts/gitlab-duo.rules.yml today (the test fails when the committed file is stale).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
// As src/main.ts does: the probe catalog registers the probes' names and schedules the config reads.
import '../../src/probes/index.js';
import { JOB_SELECTOR, ROOT, RULES_FILE, readText, runTool } from '../assets/helpers.js';

const DIR = 'deploy/kubernetes';
const GENERATOR = 'scripts/generate-k8s-rules.mjs';
const RULE_FILE = `${DIR}/prometheusrule.yaml`;

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface Deployment extends Manifest {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        automountServiceAccountToken?: boolean;
        securityContext?: Record<string, unknown> & { seccompProfile?: { type: string } };
        containers: Container[];
        volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string; defaultMode?: number } }[];
      };
    };
  };
}
interface Service extends Manifest {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
}
interface ServiceMonitor extends Manifest {
  spec: { jobLabel?: string; selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path?: string }[] };
}

const manifestFiles = readdirSync(join(ROOT, DIR))
  .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
  .sort();

/** Every document of every manifest file, with the file it came from. */
const documents = manifestFiles.flatMap((file) =>
  parseAllDocuments(readText(`${DIR}/${file}`)).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${DIR}/${file}: ${doc.errors[0]?.message}`);
    return { file, object: doc.toJS() as Manifest };
  }),
);
const objects = documents.filter((d) => d.file !== 'kustomization.yaml').map((d) => d.object);

function find<T extends Manifest>(kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind} in ${DIR}, found ${found.length}`);
  return found[0] as T;
}

const deployment = find<Deployment>('Deployment');
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers[0]!;
const service = find<Service>('Service');
const configMap = find<Manifest & { data: Record<string, string> }>('ConfigMap');
const secret = find<Manifest & { stringData?: Record<string, string>; data?: Record<string, string> }>('Secret');
const serviceMonitor = find<ServiceMonitor>('ServiceMonitor');

const tmp = mkdtempSync(join(tmpdir(), 'gde-k8s-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Where a file path inside the container comes from: [volume name, path inside the volume]. */
function volumeFor(path: string): [string, string] {
  const mount = (container.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`) || path === m.mountPath);
  if (!mount) throw new Error(`${path} is not on any volume mount of the container`);
  return [mount.name, mount.subPath ?? posix.relative(mount.mountPath, path)];
}

function envValue(name: string): string {
  const value = container.env?.find((e) => e.name === name)?.value;
  if (value === undefined) throw new Error(`the container sets no ${name}`);
  return value;
}

describe('deploy/kubernetes manifests', () => {
  it('every document parses and is a Kubernetes object with apiVersion, kind and metadata.name', () => {
    expect(manifestFiles.length).toBeGreaterThanOrEqual(7);
    for (const { file, object } of documents) {
      expect(typeof object?.apiVersion, file).toBe('string');
      expect(typeof object?.kind, file).toBe('string');
      // kustomization.yaml is kustomize's own file, not an object sent to the API server.
      if (object.kind !== 'Kustomization') expect(object.metadata?.name, file).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  it('the kustomization lists every manifest but the example Secret', () => {
    const kustomization = parse(readText(`${DIR}/kustomization.yaml`)) as { resources: string[] };
    const expected = manifestFiles.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.example.yaml');
    expect([...kustomization.resources].sort()).toEqual(expected);
  });

  it('the Deployment runs non-root on a read-only root filesystem, with resources and both probes', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(podSpec.automountServiceAccountToken).toBe(false);
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true });
    expect(container.securityContext?.capabilities?.drop).toEqual(['ALL']);
    expect(container.resources?.requests?.cpu).toBeDefined();
    expect(container.resources?.requests?.memory).toBeDefined();
    expect(container.resources?.limits?.memory).toBeDefined();
    expect(container.livenessProbe?.httpGet.path).toBe('/-/healthy');
    expect(container.readinessProbe?.httpGet.path).toBe('/-/ready');
    const portNames = (container.ports ?? []).map((p) => p.name);
    expect(portNames).toContain(container.livenessProbe?.httpGet.port);
    expect(portNames).toContain(container.readinessProbe?.httpGet.port);
    expect(container.ports?.find((p) => p.name === 'http')?.containerPort).toBe(10420);
  });

  it('the image is the Dockerfile\'s user and the package version', () => {
    const version = (JSON.parse(readText('package.json')) as { version: string }).version;
    expect(container.image).toMatch(new RegExp(`:${version.replace(/\./g, '\\.')}$`));
    expect(readText('Dockerfile')).toMatch(new RegExp(`^USER ${String(podSpec.securityContext?.runAsUser)}(:|$)`, 'm'));
  });

  it('names no published image: the local name, which the kustomization\'s images: entry lets you point at your registry', () => {
    // No image is published anywhere; the user builds and pushes it (docs/deployment.md).
    const [name, tag] = container.image.split(':');
    expect(name).toBe('gitlab-duo-exporter');
    const { images } = parse(readText(`${DIR}/kustomization.yaml`)) as { images?: { name: string; newName?: string; newTag?: string }[] };
    expect(images).toEqual([{ name, newTag: tag }]);
    expect(readText(`${DIR}/kustomization.yaml`)).toMatch(/^\s*# newName: <your-registry>\/gitlab-duo-exporter$/m);
  });

  it('the config comes from the ConfigMap, the tokens as files from the Secret', () => {
    const configArg = container.args?.find((a) => a.startsWith('--config.file='))?.slice('--config.file='.length);
    expect(configArg).toBeDefined();
    const [configVolume, configKey] = volumeFor(configArg!);
    expect(podSpec.volumes.find((v) => v.name === configVolume)?.configMap?.name).toBe(configMap.metadata.name);
    expect(Object.keys(configMap.data)).toContain(configKey);

    const secretKeys = Object.keys({ ...secret.stringData, ...secret.data });
    for (const variable of ['GITLAB_ADMIN_TOKEN_FILE', 'GITLAB_DUO_TOKEN_FILE']) {
      const [volume, key] = volumeFor(envValue(variable));
      const source = podSpec.volumes.find((v) => v.name === volume)?.secret;
      expect(source?.secretName, variable).toBe(secret.metadata.name);
      // Readable by the pod's group, not by others (the exporter warns about world-readable tokens).
      expect(source?.defaultMode).toBe(0o440);
      expect(secretKeys, variable).toContain(key);
    }
    for (const mount of container.volumeMounts ?? []) expect(mount.readOnly, mount.name).toBe(true);
  });

  it('the ConfigMap\'s config.yaml loads with the exporter\'s config loader, tokens from the mounted files', async () => {
    const admin = join(tmp, 'admin-token');
    const duo = join(tmp, 'duo-token');
    for (const file of [admin, duo]) {
      writeFileSync(file, 'placeholder-token\n');
      chmodSync(file, 0o440);
    }
    const warnings: string[] = [];
    const config = await parseConfigText(configMap.data['config.yaml']!, 'configmap', {
      env: { GITLAB_ADMIN_TOKEN_FILE: admin, GITLAB_DUO_TOKEN_FILE: duo },
      warn: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([]);
    expect(config.instances).toHaveLength(1);
    expect(config.instances[0]?.adminToken?.reveal()).toBe('placeholder-token');
    expect(config.instances[0]?.duoUserToken?.reveal()).toBe('placeholder-token');
  });

  it('the example Secret holds placeholders only', () => {
    const values = Object.values({ ...secret.stringData, ...secret.data });
    expect(values.length).toBeGreaterThan(0);
    for (const value of values) {
      expect(value).toMatch(/^REPLACE-.*NOT-A-REAL-VALUE$/);
      expect(value).not.toMatch(/^gl[a-z]+-/);
    }
  });

  it('the Service selects the pods and the ServiceMonitor selects the Service, as job="gitlab-duo-exporter"', () => {
    const podLabels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(service.spec.selector)) expect(podLabels[k], k).toBe(v);
    const http = service.spec.ports.find((p) => p.name === 'http');
    expect((container.ports ?? []).some((p) => p.name === http?.targetPort || p.containerPort === http?.targetPort)).toBe(true);

    for (const [k, v] of Object.entries(serviceMonitor.spec.selector.matchLabels)) expect(service.metadata.labels?.[k], k).toBe(v);
    for (const endpoint of serviceMonitor.spec.endpoints) expect(service.spec.ports.map((p) => p.name)).toContain(endpoint.port);
    // The Prometheus Operator names the job after the Service (or after the jobLabel label's value).
    const job = serviceMonitor.spec.jobLabel ? service.metadata.labels?.[serviceMonitor.spec.jobLabel] : service.metadata.name;
    expect(JOB_SELECTOR).toBe(`job="${job}"`);
  });
});

describe('deploy/kubernetes/prometheusrule.yaml', () => {
  const committed = readText(RULE_FILE);

  it(`is what ${GENERATOR} makes of ${RULES_FILE} (regenerate it when this fails)`, () => {
    const run = spawnSync(process.execPath, [join(ROOT, GENERATOR), '--stdout'], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(committed, `${RULE_FILE} is stale: run node ${GENERATOR}`).toBe(run.stdout);
    const check = spawnSync(process.execPath, [join(ROOT, GENERATOR), '--check'], { encoding: 'utf8', timeout: 30_000 });
    expect(check.status, check.stderr).toBe(0);
  });

  it('holds exactly the rule groups of the rules file', () => {
    const rule = parse(committed) as Manifest & { spec: { groups: unknown } };
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.spec.groups).toEqual((parse(readText(RULES_FILE)) as { groups: unknown }).groups);
  });

  it('its groups pass promtool check rules', () => {
    const rule = parse(committed) as { spec: { groups: unknown } };
    const file = join(tmp, 'groups.rules.yml');
    writeFileSync(file, stringify({ groups: rule.spec.groups }));
    const run = runTool('promtool', ['check', 'rules', file], 'prometheus');
    expect(run.status, `${run.stdout}${run.stderr}`).toBe(0);
  });

  it('its generator is a plain Node script using the yaml package, run from anywhere', () => {
    expect(existsSync(join(ROOT, GENERATOR))).toBe(true);
    const run = spawnSync(process.execPath, [join(ROOT, GENERATOR), '--stdout'], { cwd: tmp, encoding: 'utf8', timeout: 30_000 });
    expect(run.stdout).toBe(committed);
  });
});
