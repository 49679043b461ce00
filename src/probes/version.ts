import { ProbeError } from '../core/errors.js';
import { credential, instanceUrl, needsAnyToken, secretsOf } from '../gitlab/availability.js';
import { API_PHASES, API_REASONS } from '../gitlab/request.js';
import { getMetadata } from '../gitlab/rest.js';
import { quote } from '../core/redact.js';
import { atLeast, editionOf, parseVersion, revisionLabel, versionLabel } from '../gitlab/version.js';
import { defineProbe, type ProbeContext } from './types.js';

/**
 * The GitLab version against `thresholds.min_version` (default 17.2, GitLab's own floor for
 * Duo). A warning by default: an older GitLab may still work, the other probes say whether it does.
 */
export const version = defineProbe({
  name: 'version',
  group: 'settings',
  proves: 'GitLab is at or above the configured minimum version (default 17.2)',
  defaultInterval: '1h',
  defaultTimeout: '20s',
  required: false,
  phases: API_PHASES,
  reasons: [...API_REASONS, 'requirement_not_met'],
  facts: ['gitlab_duo_gitlab_info', 'gitlab_duo_gitlab_version_supported', 'gitlab_duo_http_status_code'],
  // Metadata accepts read_api (admin) or ai_features (Duo user); the admin token is used first.
  token: 'admin',
  alerts: { failing: 'GitLabDuoSettingsProbeFailed', byReason: { requirement_not_met: 'GitLabDuoGitLabVersionUnsupported' } },
  advice: {
    default: 'Upgrade GitLab to the configured minimum (17.2 by default) or later, or lower thresholds.min_version if you accept the older version.',
  },
  availability: (instance) => needsAnyToken(instance),
  target: (instance) => (instance.url ? instanceUrl(instance, '/api/v4/metadata').href : ''),
  async run(ctx: ProbeContext) {
    const token = credential(ctx.instance, 'admin') ?? credential(ctx.instance, 'duo_user')!;
    // The status tells the report a wrong URL (404, a redirect) from a GitLab that answers (causes.ts).
    const metadata = await getMetadata(ctx, token, (status) => ctx.record.fact('gitlab_duo_http_status_code', status));
    const shown = quote(metadata.version, secretsOf(ctx.instance), 40);
    const parsed = parseVersion(metadata.version);
    if (!parsed) throw new ProbeError('unexpected_response', `GitLab reports version "${shown}", which is not major.minor[.patch]`);
    const edition = editionOf(metadata.version, metadata.enterprise);
    ctx.record.fact('gitlab_duo_gitlab_info', 1, { version: versionLabel(parsed), revision: revisionLabel(metadata.revision), edition });
    const minimum = parseVersion(ctx.instance.thresholds.min_version)!;
    const supported = atLeast(parsed, minimum);
    ctx.record.fact('gitlab_duo_gitlab_version_supported', supported ? 1 : 0);
    if (!supported) {
      throw new ProbeError('requirement_not_met', `GitLab ${shown} is older than ${ctx.instance.thresholds.min_version}, the configured minimum for GitLab Duo: upgrade GitLab`);
    }
    ctx.record.note(`GitLab ${shown} (${edition}), minimum ${ctx.instance.thresholds.min_version}`);
  },
});
