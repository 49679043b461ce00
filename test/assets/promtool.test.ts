import { describe, it, expect } from 'vitest';
import { RULES_FILE, ruleTestFiles, runTool } from './helpers.js';

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

  it('check config: the example Prometheus configuration loads the rules', () => {
    const r = runTool('promtool', ['check', 'config', 'alerts/prometheus.example.yml'], PROMTOOL_PACKAGE);
    const output = r.stdout + r.stderr;
    expect(r.status, output).toBe(0);
    expect(output).toMatch(/SUCCESS: 1 rule files found/);
    expect(output).not.toMatch(/FAILED|WARNING/i);
  });
});
