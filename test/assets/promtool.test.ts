import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, it, expect } from 'vitest';
import { JOB_SELECTOR, RULES_FILE, readText, ruleTestFiles, runTool, yamlBlocksOf } from './helpers.js';

// promtool ships with Debian's `prometheus` package (2.42 on the CI image).
const PROMTOOL_PACKAGE = 'prometheus';

describe('promtool', () => {
  it('check rules: the rules file is valid and lint-clean', () => {
    const r = runTool('promtool', ['check', 'rules', RULES_FILE], PROMTOOL_PACKAGE);
    const output = r.stdout + r.stderr;
    expect(r.status, output).toBe(0);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(output, 'promtool reported findings').not.toMatch(/FAILED|WARNING|duplicate/i);
  });

  it('test rules: every unit test passes', () => {
    const files = ruleTestFiles();
    expect(files.length).toBeGreaterThan(0);
    const r = runTool('promtool', ['test', 'rules', ...files], PROMTOOL_PACKAGE);
    const output = r.stdout + r.stderr;
    expect(r.status, output).toBe(0);
    expect(output).not.toMatch(/FAILED/);
    expect(output.match(/SUCCESS/g)?.length, output).toBe(files.length);
  }, 90_000);

  it('check config: the fleet scrape configs of docs/deployment.md are valid, with the rules\' job', () => {
    const blocks = yamlBlocksOf(readText('docs/deployment.md'), 'Fleet').filter((b) => b.startsWith('scrape_configs:'));
    expect(blocks).toHaveLength(3);
    const dir = mkdtempSync(join(tmpdir(), 'gitlab-duo-fleet-'));
    try {
      for (const [i, block] of blocks.entries()) {
        const config = parse(block) as { scrape_configs: { job_name: string }[] };
        expect(`job="${config.scrape_configs[0]?.job_name}"`, block).toBe(JOB_SELECTOR);
        // Debian builds Prometheus without Kubernetes discovery: promtool refuses the field there.
        if (block.includes('kubernetes_sd_configs:')) continue;
        const path = join(dir, `fleet-${i}.yml`);
        writeFileSync(path, block);
        const r = runTool('promtool', ['check', 'config', path], PROMTOOL_PACKAGE);
        const output = r.stdout + r.stderr;
        expect(r.status, output).toBe(0);
        // The only finding allowed: file_sd's example targets file does not exist here.
        expect(output.replace(/WARNING: file "[^"]+" for file_sd in scrape job "[^"]+" does not exist/g, ''), block).not.toMatch(/FAILED|WARNING/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('check config: the example Prometheus configuration loads the rules', () => {
    const r = runTool('promtool', ['check', 'config', 'alerts/prometheus.example.yml'], PROMTOOL_PACKAGE);
    const output = r.stdout + r.stderr;
    expect(r.status, output).toBe(0);
    expect(output).toMatch(/SUCCESS: 1 rule files found/);
    expect(output).not.toMatch(/FAILED|WARNING/i);
  });
});
