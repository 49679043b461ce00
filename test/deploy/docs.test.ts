/**
 * docs/deployment.md and the deployment files point at each other: every relative link of the page
 * resolves to a file of the repository (and a heading, for #anchors), and every
 * docs/deployment.md#anchor named in the Dockerfile, systemd/, deploy/ or the generator exists.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, githubAnchor } from '../assets/helpers.js';

const PAGE = 'docs/deployment.md';
const page = readFileSync(join(ROOT, PAGE), 'utf8');

function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => githubAnchor(m[1] ?? '')));
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    return statSync(join(ROOT, path)).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('docs/deployment.md', () => {
  it('every relative link resolves', () => {
    const links = [...page.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
    expect(links.length).toBeGreaterThan(10);
    for (const link of links) {
      const [path, anchor] = link.split('#');
      const target = path ? join(ROOT, dirname(PAGE), path) : join(ROOT, PAGE);
      expect(existsSync(target), link).toBe(true);
      if (anchor && target.endsWith('.md')) expect([...anchorsOf(readFileSync(target, 'utf8'))], link).toContain(anchor);
    }
  });

  it('every docs/deployment.md#anchor the deployment files name exists', () => {
    const anchors = anchorsOf(page);
    const files = ['Dockerfile', 'scripts/generate-k8s-rules.mjs', ...filesUnder('systemd'), ...filesUnder('deploy')];
    let seen = 0;
    for (const file of files) {
      for (const m of readFileSync(join(ROOT, file), 'utf8').matchAll(/deployment\.md#([a-z0-9-]+)/g)) {
        seen++;
        expect([...anchors], `${file}: #${m[1]}`).toContain(m[1]);
      }
    }
    expect(seen).toBeGreaterThan(3);
  });
});
