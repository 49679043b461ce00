import { spawn } from 'node:child_process';
import { REPO_DIR } from './lib/paths.js';

/**
 * Issue #6, part 7: `npm audit --omit=dev` over what ships. The test command runs it as a gate
 * (`npm run audit`, high and critical fail); here the counts are reported, and an audit that could
 * not run (the registry's audit API unreachable) is said to be not run, never "no findings".
 */
export interface AuditFigures {
  readonly ran: boolean;
  readonly line: string;
  readonly highOrCritical: number;
}

export async function runAudit(): Promise<AuditFigures> {
  const text = await new Promise<string>((resolve, reject) => {
    const child = spawn('npm', ['audit', '--omit=dev', '--json'], { cwd: REPO_DIR });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
  let report: { message?: string; error?: { summary?: string; code?: string }; metadata?: { vulnerabilities?: Record<string, number>; dependencies?: { prod?: number } } };
  try {
    report = JSON.parse(text) as typeof report;
  } catch {
    return { ran: false, line: 'NOT RUN: npm audit printed no JSON', highOrCritical: 0 };
  }
  if (report.error || !report.metadata?.vulnerabilities) {
    const why = [report.message, report.error?.code, report.error?.summary].filter((s) => s).join(': ').split('\n')[0] || 'no report';
    return { ran: false, line: `NOT RUN: the registry's audit API could not be used here (${why})`, highOrCritical: 0 };
  }
  const v = report.metadata.vulnerabilities;
  const highOrCritical = (v.high ?? 0) + (v.critical ?? 0);
  const counts = ['critical', 'high', 'moderate', 'low', 'info'].map((s) => `${s} ${v[s] ?? 0}`).join(', ');
  return { ran: true, line: `npm audit --omit=dev over ${report.metadata.dependencies?.prod ?? '?'} production packages: ${counts}`, highOrCritical };
}
