import { existsSync } from 'node:fs';
import { ProbeError } from '../core/errors.js';
import { asProbeError, timeoutError } from '../net/abort.js';
import { effective, exporterProxy, PROXY_VARIABLES, readProxyEnv, type EnvValues } from '../gitlab/proxy-env.js';
import { joinCapped } from '../core/redact.js';
import { defineProbe, type ProbeContext } from './types.js';

/**
 * The most common reason Duo works in GitLab's health check but not in IDEs: Rails has the proxy
 * (gitlab_rails['env']) and Workhorse, which proxies completions, does not (gitlab_workhorse['env'];
 * facts §7, gitlab-org/gitlab#422001). Compares the two env folders of an Omnibus node, and the
 * exporter's own proxy, so its network probes take the path Rails takes.
 */
export const proxyEnv = defineProbe({
  name: 'proxy_env',
  group: 'node',
  proves: 'Rails and Workhorse on this node use the same proxy settings, and so does the exporter',
  defaultInterval: '5m',
  defaultTimeout: '10s',
  required: true,
  phases: [],
  facts: ['gitlab_duo_proxy_env_consistent'],
  // No network, no token: a difference (or an env file too large to be a setting), else the
  // implicit ones (a read cut off by the deadline, a file it may not read).
  reasons: ['requirement_not_met'],
  alerts: { failing: 'GitLabDuoNodeProbeFailed', byReason: { requirement_not_met: 'GitLabDuoProxyEnvInconsistent' } },
  advice: {
    default:
      'Set the same proxy variables, in lower case too, in gitlab_rails[\'env\'] and gitlab_workhorse[\'env\'] in /etc/gitlab/gitlab.rb on every node, run gitlab-ctl reconfigure, and give the exporter the same proxy.',
    internal: 'Let the exporter\u2019s user read the env folders, or point proxy_env.rails_env_dir and proxy_env.workhorse_env_dir at the right ones.',
  },
  enablingHint:
    'Run the exporter on an Omnibus GitLab node (where /opt/gitlab/etc/gitlab-rails/env and gitlab-workhorse/env exist), or point proxy_env.rails_env_dir and proxy_env.workhorse_env_dir at them.',
  availability: (instance) =>
    existsSync(instance.proxy_env.rails_env_dir) && existsSync(instance.proxy_env.workhorse_env_dir)
      ? { enabled: true }
      : { enabled: false, why: `not an Omnibus GitLab node: ${instance.proxy_env.rails_env_dir} or ${instance.proxy_env.workhorse_env_dir} does not exist` },
  target: (instance) => `${instance.proxy_env.rails_env_dir} vs ${instance.proxy_env.workhorse_env_dir}`,
  async run(ctx: ProbeContext) {
    const { rails_env_dir: railsDir, workhorse_env_dir: workhorseDir } = ctx.instance.proxy_env;
    const rails = await readProxyEnv(railsDir, ctx.signal).catch((err: unknown) => {
      throw readFailure(err, railsDir, ctx.signal);
    });
    const workhorse = await readProxyEnv(workhorseDir, ctx.signal).catch((err: unknown) => {
      throw readFailure(err, workhorseDir, ctx.signal);
    });
    const differences = compare(rails, workhorse, ctx);
    ctx.record.fact('gitlab_duo_proxy_env_consistent', differences.length === 0 ? 1 : 0);
    if (differences.length > 0) throw new ProbeError('requirement_not_met', `proxy settings differ: ${joinCapped(differences, '; ', 1200)}`);
    const https = effective(rails, 'HTTPS_PROXY');
    ctx.record.note(`Rails, Workhorse and the exporter agree (HTTPS_PROXY ${https.shown})`);
  },
});

/** The deadline stops the reading (signal.throwIfAborted): a timeout, not an exporter bug. */
function readFailure(err: unknown, dir: string, signal: AbortSignal): ProbeError {
  if (signal.aborted && !(err instanceof ProbeError)) return timeoutError(`reading ${dir}`);
  return asProbeError(err, 'internal', `reading ${dir}`);
}

function compare(rails: EnvValues, workhorse: EnvValues, ctx: ProbeContext): string[] {
  const differences: string[] = [];
  for (const variable of PROXY_VARIABLES) {
    const r = effective(rails, variable);
    const w = effective(workhorse, variable);
    if (r.conflicting) differences.push(`Rails sets ${variable} and ${variable.toLowerCase()} to different values`);
    if (w.conflicting) differences.push(`Workhorse sets ${variable} and ${variable.toLowerCase()} to different values`);
    if (r.key !== w.key) {
      const detail = r.shown === w.shown ? 'credentials differ' : `Rails ${r.shown}, Workhorse ${w.shown}`;
      differences.push(`${variable} (${detail}): set it in both gitlab_rails['env'] and gitlab_workhorse['env']`);
    }
  }
  // The exporter reaches cloud.gitlab.com over https, so its proxy is compared with HTTPS_PROXY.
  const own = exporterProxy(ctx.net.proxy).https;
  const railsHttps = effective(rails, 'HTTPS_PROXY');
  if (own.key !== railsHttps.key) {
    const detail = own.shown === railsHttps.shown ? 'credentials differ' : `Rails ${railsHttps.shown}, exporter ${own.shown}`;
    differences.push(`the exporter's proxy is not Rails' HTTPS_PROXY (${detail}), so its network probes do not take GitLab's path`);
  }
  return differences;
}
