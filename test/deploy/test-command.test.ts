import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `npm test` runs as root on an SRE's host as well as in CI: it may install the Debian packages it
 * needs, but it must never stop, start, restart or reconfigure a system service (a running
 * Prometheus included). The tests start their own instances on free ports with their own config
 * and data directories (test/e2e/stack.ts, test/reverse-proxy/*).
 */

const REPO = join(import.meta.dirname, '..', '..');
const SCRIPTS = [join('.ci', 'run'), ...readdirSync(join(REPO, 'scripts')).map((name) => join('scripts', name))];

// Commands that act on system services, or on processes the tests did not start.
const SERVICE_CONTROL = [
  /\bservice\s+\S+\s+(stop|start|restart|reload|force-reload)\b/,
  /\bsystemctl\s+(stop|start|restart|reload|kill|mask|disable|enable|try-restart|daemon-reload)\b/,
  /\binvoke-rc\.d\b/,
  /\b(pkill|killall)\b/,
  /\/etc\/(prometheus|nginx|apache2|tinyproxy|alertmanager)\b/,
];

describe('the test command leaves system services alone', () => {
  it.each(SCRIPTS)('%s controls no system service', (script) => {
    const lines = readFileSync(join(REPO, script), 'utf8')
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#'));
    const offending = lines.filter((line) => SERVICE_CONTROL.some((pattern) => pattern.test(line)));
    expect(offending).toEqual([]);
  });

  it('packages it installs are not started (policy-rc.d), and an existing policy is kept', () => {
    const text = readFileSync(join(REPO, 'scripts', 'test.sh'), 'utf8');
    const install = text.indexOf('apt-get install');
    expect(install).toBeGreaterThan(0);
    const policy = text.indexOf('policy-rc.d');
    expect(policy).toBeGreaterThan(0);
    expect(policy).toBeLessThan(install);
    expect(text).toMatch(/if \[ ! -e "\$policy" \]/);
  });

  it('the Prometheus and Alertmanager the e2e tests run use their own port and data directory', () => {
    const stack = readFileSync(join(REPO, 'test', 'e2e', 'stack.ts'), 'utf8');
    expect(stack.match(/--web\.listen-address=127\.0\.0\.1:\$\{port\}/g)?.length).toBe(2);
    expect(stack).toContain('--storage.tsdb.path=${join(dir');
    expect(stack).toContain('--storage.path=${join(dir');
  });
});
