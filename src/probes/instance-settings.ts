import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsInstance, secretsOf } from '../gitlab/availability.js';
import { API_PHASES, API_REASONS } from '../gitlab/request.js';
import { getApplicationSettings, type ApplicationSettings } from '../gitlab/rest.js';
import { quote } from '../core/redact.js';
import type { FactName } from '../core/facts.js';
import { defineProbe, type ProbeContext } from './types.js';

const AVAILABILITIES = ['default_on', 'default_off', 'never_on'] as const;

/**
 * The instance switches that silently break Duo: Silent Mode blocks every outbound POST
 * (completions, the licence sync); Duo off and locked turns it off for everyone. The beta and
 * Agent Platform toggles are reported, not judged.
 */
export const instanceSettings = defineProbe({
  name: 'instance_settings',
  group: 'settings',
  proves: 'Silent Mode is off and GitLab Duo is not turned off and locked for the whole instance',
  defaultInterval: '5m',
  defaultTimeout: '20s',
  required: true,
  phases: API_PHASES,
  reasons: [...API_REASONS, 'requirement_not_met'],
  facts: [
    'gitlab_duo_silent_mode_enabled',
    'gitlab_duo_features_enabled',
    'gitlab_duo_availability',
    'gitlab_duo_beta_features_enabled',
    'gitlab_duo_agent_platform_enabled',
  ],
  token: 'admin',
  alerts: { failing: 'GitLabDuoSettingsProbeFailed' },
  advice: {
    default: 'Turn Silent Mode off and GitLab Duo on (availability default_on) in the Admin area, as the message says.',
  },
  availability: (instance) => needsInstance(instance, 'admin'),
  target: (instance) => (instance.url ? instanceUrl(instance, '/api/v4/application/settings').href : ''),
  async run(ctx: ProbeContext) {
    const settings = await getApplicationSettings(ctx, credential(ctx.instance, 'admin')!);
    recordFacts(ctx, settings);
    const problems = judge(settings);
    if (problems.length > 0) throw new ProbeError('requirement_not_met', problems.join('; '));
    // duo_availability is GitLab's text: quoted (scrubbed, short) like every other value it sends.
    const availability = quote(describeAvailability(settings), secretsOf(ctx.instance), 80);
    ctx.record.note(`Silent Mode off, Duo ${availability}${settings.instance_level_ai_beta_features_enabled ? ', beta features on' : ''}`);
  },
});

function recordFacts(ctx: ProbeContext, s: ApplicationSettings): void {
  // A key an older GitLab does not expose yields no sample rather than a made-up one.
  const flag = (name: FactName, value: boolean | undefined): void => {
    if (value !== undefined) ctx.record.fact(name, value ? 1 : 0);
  };
  flag('gitlab_duo_silent_mode_enabled', s.silent_mode_enabled);
  flag('gitlab_duo_features_enabled', s.duo_features_enabled);
  flag('gitlab_duo_beta_features_enabled', s.instance_level_ai_beta_features_enabled);
  flag('gitlab_duo_agent_platform_enabled', s.duo_agent_platform_enabled);
  if (isAvailability(s.duo_availability)) {
    for (const availability of AVAILABILITIES) ctx.record.fact('gitlab_duo_availability', availability === s.duo_availability ? 1 : 0, { availability });
  } else if (s.duo_availability !== undefined) {
    ctx.record.note(`unknown duo_availability "${quote(s.duo_availability, secretsOf(ctx.instance), 40)}" not exported`);
  }
}

/**
 * Silent Mode on fails; so does Duo off and locked (`never_on` from the setter). Not failures:
 * `default_off` (groups and projects can still turn Duo on), and on-and-locked, which GitLab's
 * `duo_availability` getter also reports as `never_on` (ee/app/models/ee/application_setting.rb):
 * the raw pair decides, `duo_availability` only where the pair is not exposed.
 */
function judge(s: ApplicationSettings): string[] {
  const problems: string[] = [];
  if (s.silent_mode_enabled === true) {
    problems.push('Silent Mode is on: GitLab blocks outbound POST requests, so completions and the licence sync fail (Admin > Settings > General > Silent Mode)');
  }
  const offAndLocked =
    s.duo_features_enabled !== undefined && s.lock_duo_features_enabled !== undefined
      ? !s.duo_features_enabled && s.lock_duo_features_enabled
      : s.duo_availability === 'never_on';
  if (offAndLocked) {
    problems.push('GitLab Duo is turned off and locked for every group and project: Admin > GitLab Duo > Change configuration');
  }
  return problems;
}

/** What the note says of Duo's switch, in GitLab's words where they fit. */
function describeAvailability(s: ApplicationSettings): string {
  if (s.duo_features_enabled === true && s.lock_duo_features_enabled === true) return 'on and locked (GitLab reports this as never_on)';
  if (s.duo_features_enabled === false) return 'off by default; groups and projects can turn it on';
  return s.duo_availability ?? 'on';
}

function isAvailability(value: string | undefined): value is (typeof AVAILABILITIES)[number] {
  return (AVAILABILITIES as readonly string[]).includes(value ?? '');
}
