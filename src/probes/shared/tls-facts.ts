import type { FactName } from '../../core/facts.js';
import type { Connection } from '../../net/connect.js';
import type { Recorder } from '../../core/run.js';

/** The facts every probe that shows its TLS peer exports, in the order its `facts` lists them. */
export const TLS_FACTS = [
  'gitlab_duo_tls_cert_expiry_timestamp_seconds',
  'gitlab_duo_tls_peer_info',
  'gitlab_duo_tls_public_ca',
] as const satisfies readonly FactName[];

/** Where the runbook explains what the interception note means and what to do. */
export const INTERCEPTION_RUNBOOK = 'docs/runbook.md#tls-interception';

/**
 * The certificate facts of a connection: the earliest expiry in the chain, the leaf (one series
 * per probe, replaced with each run) and whether the chain is from a public CA. Nothing without
 * TLS.
 */
export function recordTlsFacts(record: Recorder, connection: Connection): void {
  if (connection.certExpiry !== undefined) record.fact('gitlab_duo_tls_cert_expiry_timestamp_seconds', connection.certExpiry);
  const peer = connection.tlsPeer;
  if (!peer) return;
  record.fact('gitlab_duo_tls_peer_info', 1, {
    subject_cn: peer.subjectCn,
    issuer_cn: peer.issuerCn,
    fingerprint_sha256: peer.fingerprintSha256,
  });
  record.fact('gitlab_duo_tls_public_ca', peer.publicCa ? 1 : 0);
}

/**
 * GitLab serves its own hosts (cloud.gitlab.com, customers.gitlab.com,
 * duo-workflow-svc.runway.gitlab.net, and the rest of gitlab.com and gitlab.net) with publicly
 * trusted certificates. Another endpoint (a self-hosted Duo Workflow Service, a test server) may
 * well have a private CA, and says nothing about interception.
 */
export function isGitLabHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return ['gitlab.com', 'gitlab.net'].some((domain) => name === domain || name.endsWith(`.${domain}`));
}

/**
 * A note when one of GitLab's hosts was served by a certificate that is not from a public CA: a
 * TLS-inspecting proxy re-signed it. The run still passes or fails on its own merits; the note
 * (and gitlab_duo_tls_public_ca 0) says why the Agent Platform may break where the probe passed.
 * Returns whether it noted.
 */
export function noteInterception(record: Recorder, host: string, connection: Connection): boolean {
  const peer = connection.tlsPeer;
  if (!peer || peer.publicCa || !isGitLabHost(host)) return false;
  const issuer = peer.issuerCn ? `"${peer.issuerCn}"` : 'an issuer without a common name';
  record.note(
    `${host} is served by a certificate from ${issuer}, not a public CA: a TLS-inspecting proxy is in the path; it breaks the Duo Workflow Service's gRPC stream (${INTERCEPTION_RUNBOOK})`,
  );
  return true;
}
