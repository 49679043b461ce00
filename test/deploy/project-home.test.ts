/**
 * One home for the project, named the same way everywhere: package.json's repository, homepage and
 * bugs, the image's org.opencontainers.image.source label, the systemd unit's Documentation=, the
 * documentation links of the reports, status page and alert rules. And no published image is
 * named anywhere, because none is published: the docs say how to build and push the image, and the
 * manifests use the local name gitlab-duo-exporter:<version>, which the user points elsewhere.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOCS_BASE_URL } from '../../src/report/explain.js';
import { ROOT, RUNBOOK_URL, readText } from '../assets/helpers.js';

const pkg = JSON.parse(readText('package.json')) as { repository?: { type?: string; url?: string }; homepage?: string; bugs?: { url?: string } };
const HOME = (pkg.repository?.url ?? '').replace(/^git\+/, '').replace(/\.git$/, '');

// Where the project's own files may name its home or an image.
const SCANNED = ['README.md', 'Dockerfile', 'package.json', 'config.example.yaml', 'docs', 'deploy', 'systemd', 'alerts', 'dashboards', 'src', 'scripts', '.ci'];

function filesUnder(path: string): string[] {
  if (!statSync(join(ROOT, path)).isDirectory()) return [path];
  return readdirSync(join(ROOT, path)).flatMap((name) => filesUnder(`${path}/${name}`));
}

const files = SCANNED.flatMap(filesUnder).map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));

describe('the project home', () => {
  it('package.json names it as a GitHub repository, with its README as homepage and its issues as bugs', () => {
    expect(pkg.repository?.type).toBe('git');
    expect(HOME).toMatch(/^https:\/\/github\.com\/[\w.-]+\/gitlab-duo-exporter$/);
    expect(pkg.homepage).toBe(`${HOME}#readme`);
    expect(pkg.bugs?.url).toBe(`${HOME}/issues`);
  });

  it('the image label, the systemd unit, the reports and the alert rules name the same home', () => {
    expect(readText('Dockerfile')).toContain(`org.opencontainers.image.source="${HOME}"`);
    expect(readText('systemd/gitlab-duo-exporter.service')).toMatch(new RegExp(`^Documentation=${HOME}/blob/main/docs/deployment\\.md$`, 'm'));
    expect(DOCS_BASE_URL).toBe(`${HOME}/blob/main/docs/`);
    expect(RUNBOOK_URL).toBe(`${HOME}/blob/main/docs/runbook.md`);
  });

  it('no file names the project under another address', () => {
    const other = files.flatMap(({ path, text }) =>
      [...text.matchAll(/https?:\/\/[^\s"'`)<>]*gitlab-duo-exporter\b[^\s"'`)<>]*/g)]
        .map((m) => m[0])
        .filter((url) => url !== HOME && url !== `${HOME}.git` && !url.startsWith(`${HOME}/`) && !url.startsWith(`${HOME}#`))
        .map((url) => `${path}: ${url}`),
    );
    expect(other).toEqual([]);
  });
});

describe('images', () => {
  it('no file names a published gitlab-duo-exporter image: none exists', () => {
    // A registry host (with a dot or a port) before the image name, e.g. ghcr.io/<owner>/gitlab-duo-exporter.
    const published = files.flatMap(({ path, text }) =>
      [...text.matchAll(/\b(?:[a-z0-9-]+\.)+[a-z]{2,}(?::\d+)?\/(?:[\w.-]+\/)*gitlab-duo-exporter(?::[\w.-]+)?\b/g)]
        .map((m) => m[0])
        .filter((ref) => !ref.startsWith('github.com/'))
        .map((ref) => `${path}: ${ref}`),
    );
    expect(published).toEqual([]);
    expect(files.filter(({ text }) => /docker pull\s+\S*gitlab-duo-exporter/.test(text)).map((f) => f.path)).toEqual([]);
  });

  it('docs/deployment.md says how to build and push the image to your registry', () => {
    const page = readText('docs/deployment.md');
    expect(page).toMatch(/docker build -t <your-registry>\/gitlab-duo-exporter:\d+\.\d+\.\d+/);
    expect(page).toMatch(/docker push <your-registry>\/gitlab-duo-exporter:\d+\.\d+\.\d+/);
  });
});
