/**
 * Just enough of a Dockerfile and .dockerignore reader to replay the image build outside Docker
 * (test/deploy/dockerfile.test.ts). Not a general parser: it understands the instructions the
 * repository's Dockerfile uses and throws on anything else it would have to guess about.
 */

export interface Instruction {
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly name: string | undefined;
  readonly base: string;
  readonly instructions: readonly Instruction[];
}

/** The instructions of a Dockerfile: comments, parser directives and blank lines dropped. */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    // A trailing backslash continues the instruction; comment lines inside it are skipped.
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      while (/^\s*#/.test(lines[i] ?? '') && i + 1 < lines.length) i++;
      line += lines[i] ?? '';
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${line}"`);
    out.push({ keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim(), line: start + 1 });
  }
  return out;
}

export function parseStages(text: string): Stage[] {
  const stages: { name: string | undefined; base: string; instructions: Instruction[] }[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: cannot parse FROM ${ins.args}`);
      stages.push({ base: m[1] ?? '', name: m[2]?.toLowerCase(), instructions: [] });
    } else if (ins.keyword === 'ARG' && stages.length === 0) {
      // a global build argument before the first FROM: nothing to replay
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
      stage.instructions.push(ins);
    }
  }
  return stages;
}

/** Leading `--flag=value` options of COPY, RUN, HEALTHCHECK; returns them and the rest. */
export function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (!m) break;
    flags[m[1] ?? ''] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** The JSON (exec) form of CMD, ENTRYPOINT, HEALTHCHECK CMD, RUN; undefined for the shell form. */
export function execForm(text: string): string[] | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(trimmed);
  if (!Array.isArray(parsed) || !parsed.every((s): s is string => typeof s === 'string')) {
    throw new Error(`not an exec-form array of strings: ${text}`);
  }
  return parsed;
}

export interface CopyInstruction {
  readonly from: string | undefined;
  readonly sources: readonly string[];
  readonly dest: string;
  readonly flags: Readonly<Record<string, string>>;
}

export function parseCopy(ins: Instruction): CopyInstruction {
  const { flags, rest } = splitFlags(ins.args);
  const words = execForm(rest) ?? rest.split(/\s+/);
  if (words.length < 2) throw new Error(`Dockerfile line ${ins.line}: COPY needs a source and a destination`);
  return { from: flags.from?.toLowerCase(), sources: words.slice(0, -1), dest: words.at(-1) ?? '', flags };
}

/** ENV KEY=VALUE [KEY=VALUE ...] (quotes allowed) or the legacy ENV KEY VALUE. */
export function parseEnv(ins: Instruction): Record<string, string> {
  const env: Record<string, string> = {};
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(ins.args)) {
    const m = /^(\S+)\s+(.*)$/.exec(ins.args);
    if (!m) throw new Error(`Dockerfile line ${ins.line}: cannot parse ENV ${ins.args}`);
    env[m[1] ?? ''] = m[2] ?? '';
    return env;
  }
  for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)) {
    const raw = m[2] ?? '';
    env[m[1] ?? ''] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw.replace(/^'(.*)'$/, '$1');
  }
  return env;
}

export interface Healthcheck {
  readonly options: Readonly<Record<string, string>>;
  readonly command: readonly string[];
}

export function parseHealthcheck(ins: Instruction): Healthcheck {
  const { flags, rest } = splitFlags(ins.args);
  const m = /^CMD\s+(.*)$/s.exec(rest);
  const command = m ? execForm(m[1] ?? '') : undefined;
  if (!command) throw new Error(`Dockerfile line ${ins.line}: HEALTHCHECK must use CMD in exec form`);
  return { options: flags, command };
}

/**
 * .dockerignore as Docker reads it (moby/patternmatcher): paths relative to the context root, `*`
 * and `?` within one path segment, `**` across segments, `!` re-includes, the last matching line
 * wins, and a path is excluded when it or one of its parent directories matches.
 */
export class DockerIgnore {
  readonly #patterns: { negate: boolean; re: RegExp; text: string }[];

  constructor(text: string) {
    this.#patterns = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => {
        const negate = l.startsWith('!');
        const pattern = (negate ? l.slice(1) : l).trim().replace(/^\/+|\/+$/g, '').replace(/^\.\//, '');
        return { negate, re: globToRegExp(pattern), text: l };
      });
  }

  /** Whether the file or directory at this context-relative path stays out of the build context. */
  excludes(relativePath: string): boolean {
    const parts = relativePath.split('/').filter(Boolean);
    let excluded = false;
    for (const p of this.#patterns) {
      for (let n = 1; n <= parts.length; n++) {
        if (p.re.test(parts.slice(0, n).join('/'))) {
          excluded = !p.negate;
          break;
        }
      }
    }
    return excluded;
  }
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more directories, a trailing `**` anything below
      if (pattern[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
