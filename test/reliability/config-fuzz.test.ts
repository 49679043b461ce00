import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { writeFigures } from '../../reliability/lib/figures.js';
import { seededRandom, seedFromEnv, type Rng } from '../../reliability/lib/prng.js';
import { startApp, type App } from '../../src/app.js';
import { formatPath } from '../../src/config/issues.js';
import { loadConfigFile } from '../../src/config/load.js';
import { main } from '../../src/main.js';
import { BUNDLED_RANGES_FILE } from '../../src/net/cloudflare.js';
import { PROBE_NAMES } from '../../src/probes/index.js';
import { silentLogger } from '../helpers/fake-probe.js';
import { createCa } from '../helpers/tls.js';
import { httpGet } from './lib/daemon.js';
import { addKey, HOSTILE_STRINGS, nodes, otherType, setAt, typeOf, UNKNOWN_KEYS, type Path } from './lib/mutate.js';

/**
 * Issue #6, part 2a: hostile configs. A valid config touching every section is mutated (unknown
 * keys, wrong types, empty and huge values, out-of-range numbers, broken YAML, random YAML) so
 * that every case is invalid by construction; each goes through the real command line code
 * (`main(['--config.check', ...])`), and must end in exit code 2 with one line per problem, each
 * naming where, the mutated path among them, without a stack trace or a token. A share of the
 * cases is also sent to a running daemon as a reload, which must refuse it and keep running.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SEED = seedFromEnv(20_260_601);
const STRUCTURAL_CASES = 300;
const TEXT_CASES = 120;
const RANDOM_CASES = 120;
const RELOAD_EVERY = 8;
const ADMIN_TOKEN = 'sentinel-cfg-admin-7d3c1b9e55';
const DUO_TOKEN = 'sentinel-cfg-duo-file-2a6f4e8c1d';
const ENV_TOKEN = 'sentinel-cfg-env-9b1d7f3a6c';

// Strings a value may legitimately be huge in (a token, a folder, a NO_PROXY entry): no case
// puts a huge value there, since that is valid.
const FREE_TEXT = /(^|\.)(admin_token|rails_env_dir|workhorse_env_dir)$|no_proxy\[\d+\]$/;

let dir: string;
let base: Record<string, unknown>;
let app: App | undefined;
let appConfigPath: string;
const tally = { tried: 0, handled: 0, reloads: 0, cli: 0, kinds: new Map<string, number>() };

function template(): Record<string, unknown> {
  return {
    instances: [
      {
        name: 'lab',
        url: 'https://gitlab.example.com',
        admin_token: ADMIN_TOKEN,
        duo_user_token_file: join(dir, 'duo.token'),
        tls: { ca_file: join(dir, 'ca.pem'), insecure_skip_verify: false },
        proxy: { url: 'http://proxy.example.com:3128', no_proxy: ['gitlab.example.com', '.internal'] },
        endpoints: {
          customers_portal: 'https://customers.gitlab.com',
          cloud_connector: 'https://cloud.gitlab.com',
          duo_workflow_service: 'duo-workflow-svc.runway.gitlab.net:443',
          ai_gateway: 'https://aigw.example.com',
        },
        resolve: { 'cloud.gitlab.com:443': '104.18.0.1' },
        probes: { license: { enabled: true, interval: '5m', timeout: '20s', required: true }, health_check: { interval: '*/30 * * * *', timeout: '60s' } },
        thresholds: { license_sync_max_age: '72h', min_version: '17.2' },
        proxy_env: { rails_env_dir: '/opt/gitlab/etc/gitlab-rails/env', workhorse_env_dir: '/opt/gitlab/etc/gitlab-workhorse/env' },
      },
    ],
    defaults: { probes: { code_suggestions: { interval: '5m', timeout: '30s' } } },
    web: { listen_address: '127.0.0.1:10420' },
    log: { level: 'info', format: 'json' },
    scheduler: { max_concurrency: 16 },
    cloudflare_ranges_file: fileURLToPath(BUNDLED_RANGES_FILE),
  };
}

interface Case {
  readonly kind: string;
  readonly yaml: string;
  /** A path the error must name; undefined when only "some path" can be demanded. */
  readonly path?: string;
}

/** One mutation that makes the config invalid whatever else holds. */
function structuralCase(rng: Rng): Case {
  const all = nodes(base).filter((n) => n.path.length > 0);
  const objects = nodes(base).filter((n) => typeOf(n.value) === 'object');
  const strings = all.filter((n) => typeof n.value === 'string');
  const kind = rng.pick(['unknown_key', 'wrong_type', 'null', 'empty_string', 'huge_string', 'huge_duration', 'bad_number', 'bad_port', 'rule']);
  const yaml = (doc: unknown): string => stringify(doc, { aliasDuplicateObjects: false });
  switch (kind) {
    case 'unknown_key': {
      const target = rng.pick(objects);
      // Named at its own path: `instances[0].tls.colour: unknown key`.
      const key = rng.pick(UNKNOWN_KEYS);
      return { kind, yaml: yaml(addKey(base, target.path, key, rng.pick(['x', 1, null, { a: 1 }]))), path: formatPath([...target.path, key]) };
    }
    case 'wrong_type': {
      const target = rng.pick(all);
      return { kind, yaml: yaml(setAt(base, target.path, otherType(rng, target.value))), path: formatPath(target.path) };
    }
    case 'null': {
      const target = rng.pick(all);
      return { kind, yaml: yaml(setAt(base, target.path, null)), path: formatPath(target.path) };
    }
    case 'empty_string': {
      const target = rng.pick(strings);
      return { kind, yaml: yaml(setAt(base, target.path, '')), path: formatPath(target.path) };
    }
    case 'huge_string': {
      const target = rng.pick(strings.filter((n) => !FREE_TEXT.test(formatPath(n.path))));
      return { kind, yaml: yaml(setAt(base, target.path, 'x'.repeat(100_000 + rng.int(100_000)))), path: formatPath(target.path) };
    }
    case 'huge_duration': {
      const target = rng.pick(strings.filter((n) => /\.(interval|timeout|license_sync_max_age)$/.test(formatPath(n.path))));
      return { kind, yaml: yaml(setAt(base, target.path, `${'9'.repeat(1 + rng.int(400))}${rng.pick(['d', 'w', 'h'])}`)), path: formatPath(target.path) };
    }
    case 'bad_number':
      return { kind, yaml: yaml(setAt(base, ['scheduler', 'max_concurrency'], rng.pick([0, -1, 1.5, 1e12, Infinity, Number.NaN, 2 ** 53 + 1]))), path: 'scheduler.max_concurrency' };
    case 'bad_port': {
      const port = 65_536 + rng.int(34_000);
      const [path, value] = rng.pick<[Path, string]>([
        [['web', 'listen_address'], `127.0.0.1:${port}`],
        [['instances', 0, 'endpoints', 'duo_workflow_service'], `dws.example.com:${port}`],
      ]);
      return { kind, yaml: yaml(setAt(base, path, value)), path: formatPath(path) };
    }
    default: {
      // Rules across keys: both a token and its file, a timeout not shorter than its interval,
      // two instances with one name, a variable that is not set.
      const rule = rng.int(4);
      if (rule === 0) return { kind: 'token_and_file', yaml: yaml(setAt(base, ['instances', 0, 'admin_token_file'], join(dir, 'duo.token'))), path: 'instances[0].admin_token' };
      if (rule === 1) return { kind: 'timeout_not_shorter', yaml: yaml(setAt(base, ['instances', 0, 'probes', 'license', 'timeout'], '10m')), path: 'instances[0].probes.license.timeout' };
      if (rule === 2) {
        const instances = base.instances as unknown[];
        return { kind: 'duplicate_name', yaml: yaml(setAt(base, ['instances'], [instances[0], instances[0]])), path: 'instances[1].name' };
      }
      return { kind: 'unset_variable', yaml: yaml(setAt(base, ['instances', 0, 'url'], '${NOT_SET_ANYWHERE}')), path: 'instances[0].url' };
    }
  }
}

/** Edits of the YAML text that no parser may accept. */
function textCase(rng: Rng): Case {
  const lines = stringify(base).split('\n');
  const keyed = lines.map((l, i) => [l, i] as const).filter(([l]) => /^\s+[a-z_]+: \S/.test(l) && !l.trimStart().startsWith('- '));
  const [line, at] = rng.pick(keyed);
  const kind = rng.pick(['tab_indent', 'duplicate_key', 'open_quote', 'open_flow', 'unknown_alias', 'alias_bomb', 'deep_nesting', 'secret_in_wrong_key']);
  const edit = (replacement: string[]): string => [...lines.slice(0, at), ...replacement, ...lines.slice(at + 1)].join('\n');
  switch (kind) {
    case 'tab_indent':
      return { kind, yaml: edit([line.replace(/^ +/, '\t')]) };
    case 'duplicate_key':
      return { kind, yaml: edit([line, line]) };
    case 'open_quote':
      return { kind, yaml: edit([line.replace(/: /, ': "')]) };
    case 'open_flow':
      return { kind, yaml: edit([line.replace(/: /, ': [')]) };
    case 'unknown_alias':
      return { kind, yaml: edit([line.replace(/: .*/, ': *nowhere')]) };
    case 'alias_bomb': {
      const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 9; i++) levels.push(`l${i}: &l${i} [${Array(9).fill(`*${i === 1 ? 'a' : `l${i - 1}`}`).join(',')}]`);
      return { kind, yaml: `${levels.join('\n')}\ninstances: *l8\n`, path: '(root)' };
    }
    case 'deep_nesting': {
      const depth = 2000 + rng.int(20_000);
      return { kind, yaml: `instances: ${'['.repeat(depth)}${']'.repeat(depth)}\n` };
    }
    default:
      // The token from the environment, put where a duration belongs: the error quotes the value.
      return { kind, yaml: stringify(setAt(base, ['instances', 0, 'probes', 'license', 'interval'], '${GITLAB_DUO_TOKEN}')), path: 'instances[0].probes.license.interval' };
  }
}

const SCALARS = ['yes', '~', 'null', '0x1F', '.inf', '-.nan', '2026-01-01', "'quoted'", '"dq"', '!!str 5', '&anchor x', '|', '>-', '%', '@x', '`x', '? x', ': x', '-', '[', '{', '}', '#c', '0o17', '1e400'];
const KEYS = ['web', 'log', 'defaults', 'scheduler', 'url', 'name', 'probes', 'level', 'instance', 'Instances', '<<', '? ', 'x', '0'];

/** Random YAML-ish text: random structure, random keys (never `instances`), random scalars. */
function randomCase(rng: Rng): Case {
  const gen = (depth: number): string => {
    if (depth > 3 || rng.chance(0.3)) return rng.pick(SCALARS);
    const indent = '  '.repeat(depth + 1);
    const n = 1 + rng.int(4);
    if (rng.chance(0.5)) return `\n${Array.from({ length: n }, () => `${indent}- ${gen(depth + 1)}`).join('\n')}`;
    return `\n${Array.from({ length: n }, () => `${indent}${rng.pick(KEYS)}: ${gen(depth + 1)}`).join('\n')}`;
  };
  if (rng.chance(0.2)) return { kind: 'random_bytes', yaml: Array.from({ length: rng.int(300) }, () => String.fromCharCode(rng.chance(0.8) ? 32 + rng.int(95) : rng.int(32))).join('') };
  return { kind: 'random_yaml', yaml: Array.from({ length: 1 + rng.int(4) }, () => `${rng.pick(KEYS)}: ${gen(0)}`).join('\n') };
}

async function checkConfig(path: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
  try {
    const code = await main(['node', 'gitlab-duo-exporter', '--config.check', '--config.file', path]);
    return { code, out, err };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

const ISSUE_LINE = /^ {2}- ((\(root\)|YAML line (\d+|\?)|(?:[A-Za-z_][\w[\]".:-]*|(?=\[))(\[[^\]]+\])*[\w[\]".:-]*): \S|… and \d+ more$)/;
// A YAML error's offending line and the caret under it, indented under the problem.
const SNIPPET_LINE = /^ {4}(\d+ \| .*| +\| +\^)$/;

/** What is wrong with how a bad config was reported; empty when it was reported as designed. */
function problems(c: Case, run: { code: number; out: string; err: string }): string[] {
  const found: string[] = [];
  const [head, ...issues] = run.err.trimEnd().split('\n');
  if (run.code !== 2) found.push(`exit code ${run.code}, not 2`);
  if (!/^invalid configuration \(.+\):$/.test(head ?? '')) found.push(`headline ${JSON.stringify(head?.slice(0, 100))}`);
  if (issues.length === 0) found.push('no problem listed');
  for (const [i, issue] of issues.entries()) {
    const snippet = SNIPPET_LINE.test(issue) && /^ {2}- YAML line |^ {4}\d+ \| /.test(issues[i - 1] ?? '');
    if (!ISSUE_LINE.test(issue) && !snippet) found.push(`a line that names no path: ${JSON.stringify(issue.slice(0, 100))}`);
  }
  if (c.path && !run.err.includes(`  - ${c.path}`)) found.push(`${c.path} not named`);
  if (/\n\s+at |Error:/.test(run.err)) found.push('a stack trace');
  if (run.err.length > 12_000) found.push(`a message of ${run.err.length} characters`);
  for (const token of [ADMIN_TOKEN, DUO_TOKEN, ENV_TOKEN]) if (`${run.out}${run.err}`.includes(token)) found.push('a token');
  return found;
}

function expectInvalid(c: Case, run: { code: number; out: string; err: string }, label: string): boolean {
  const found = problems(c, run);
  expect.soft(found, `${label}\n${run.err.slice(0, 600)}`).toEqual([]);
  return found.length === 0;
}

describe(`config fuzz (seed ${SEED})`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gde-cfgfuzz-'));
    writeFileSync(join(dir, 'ca.pem'), (await createCa()).certPem);
    writeFileSync(join(dir, 'duo.token'), DUO_TOKEN, { mode: 0o600 });
    base = template();
    vi.stubEnv('GITLAB_DUO_TOKEN', ENV_TOKEN);
    // A daemon that every RELOAD_EVERY-th case is sent to as a reload; its own config runs nothing.
    appConfigPath = join(dir, 'running.yaml');
    writeFileSync(appConfigPath, stringify({ instances: [{ name: 'running' }], defaults: { probes: Object.fromEntries(PROBE_NAMES.map((p) => [p, { enabled: false }])) }, web: { listen_address: '127.0.0.1:0' } }));
    app = await startApp({ config: await loadConfigFile(appConfigPath, { env: {} }), configPath: appConfigPath, logger: silentLogger, env: { GITLAB_DUO_TOKEN: ENV_TOKEN } });
  });

  afterAll(async () => {
    await app?.stop();
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
    const kinds = [...tally.kinds.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    const lines = [
      `seed ${SEED}: ${tally.tried} invalid configs tried, ${tally.handled} reported as designed (exit code 2, every line naming where, the mutated path among them, no stack trace, no token)`,
      `${tally.reloads} of them also sent to a running daemon as a reload (refused, daemon kept running), ${tally.cli} through the real CLI process`,
      `kinds: ${kinds.join(', ')}`,
    ];
    console.log(`[reliability] config fuzz\n  ${lines.join('\n  ')}`);
    writeFigures(REPO, 'config-fuzz', { part: 'config fuzz', seed: SEED, badInputsTried: tally.tried, badInputsHandled: tally.handled, lines });
  });

  it('the template itself is valid (so every failure below is the mutation)', async () => {
    const path = join(dir, 'valid.yaml');
    writeFileSync(path, stringify(base));
    const run = await checkConfig(path);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
  });

  it(`${STRUCTURAL_CASES} mutated, ${TEXT_CASES} broken-YAML and ${RANDOM_CASES} random configs: exit code 2, naming the path`, async () => {
    const rng = seededRandom(SEED);
    const cases: Case[] = [
      ...Array.from({ length: STRUCTURAL_CASES }, () => structuralCase(rng)),
      ...Array.from({ length: TEXT_CASES }, () => textCase(rng)),
      ...Array.from({ length: RANDOM_CASES }, () => randomCase(rng)),
    ];
    for (const [i, c] of cases.entries()) {
      const path = join(dir, `case-${i}.yaml`);
      writeFileSync(path, c.yaml);
      const label = `case ${i} (${c.kind}, seed ${SEED})`;
      const run = await checkConfig(path);
      tally.tried++;
      tally.kinds.set(c.kind, (tally.kinds.get(c.kind) ?? 0) + 1);
      if (expectInvalid(c, run, label)) tally.handled++;
      if (i % RELOAD_EVERY === 0) {
        // The same bad file as a reload of a running daemon: refused, named, the daemon keeps going.
        writeFileSync(appConfigPath, c.yaml);
        const message = await app!.reload();
        tally.reloads++;
        expect.soft(message, `${label}: reload refused`).toEqual(expect.any(String));
        if (c.path) expect.soft(message, `${label}: reload error names the path`).toContain(c.path);
        for (const token of [ADMIN_TOKEN, DUO_TOKEN, ENV_TOKEN]) expect.soft(message ?? '', `${label}: no token in the reload error`).not.toContain(token);
        const metrics = await httpGet(`${app!.url()}/metrics`);
        expect.soft(metrics.status, `${label}: /metrics after the refused reload`).toBe(200);
        expect.soft(metrics.body).toContain('gitlab_duo_exporter_config_last_reload_successful 0');
      }
    }
  });

  it('the real command line process agrees: exit code 2, no stack trace', () => {
    const bin = fileURLToPath(new URL('../../bin/gitlab-duo-exporter.js', import.meta.url));
    const rng = seededRandom(SEED + 1);
    const cases = [...Array.from({ length: 4 }, () => structuralCase(rng)), ...Array.from({ length: 4 }, () => textCase(rng))];
    for (const [i, c] of cases.entries()) {
      const path = join(dir, `cli-${i}.yaml`);
      writeFileSync(path, c.yaml);
      const run = spawnSync(process.execPath, [bin, '--config.check', '--config.file', path], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', GITLAB_DUO_TOKEN: ENV_TOKEN }, timeout: 20_000 });
      tally.tried++;
      tally.cli++;
      if (expectInvalid(c, { code: run.status ?? -1, out: run.stdout, err: run.stderr }, `cli case ${i} (${c.kind})`)) tally.handled++;
    }
  });

  it('a hostile string in any string field is refused or accepted, never a crash', async () => {
    const rng = seededRandom(SEED + 2);
    const strings = nodes(base).filter((n) => typeof n.value === 'string');
    for (const [i, hostile] of HOSTILE_STRINGS.entries()) {
      const target = rng.pick(strings);
      const path = join(dir, `hostile-${i}.yaml`);
      writeFileSync(path, stringify(setAt(base, target.path, hostile)));
      const run = await checkConfig(path);
      tally.tried++;
      // Some of these are valid somewhere (a token may be any text): 0 or 2, never anything else.
      const label = `${formatPath(target.path)} = ${JSON.stringify(hostile).slice(0, 40)}`;
      const ok = run.code === 0 ? run.err === '' : expectInvalid({ kind: 'hostile', yaml: '' }, run, label);
      expect.soft(ok, label).toBe(true);
      if (ok) tally.handled++;
    }
  });
});
