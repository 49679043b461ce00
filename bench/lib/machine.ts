import { execFileSync } from 'node:child_process';
import { cpus, release, totalmem, availableParallelism } from 'node:os';
import { REPO_DIR } from './paths.js';

export interface Machine {
  readonly commit: string;
  /** Uncommitted changes in the work tree when measured. */
  readonly dirty: boolean;
  readonly date: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly kernel: string;
  readonly node: string;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_DIR, encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

export function describeMachine(): Machine {
  return {
    commit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
  };
}
