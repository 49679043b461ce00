import type { YAMLError } from 'yaml';
import { REDACTED, scrub } from '../core/redact.js';
import { visible } from '../text/escape.js';

/**
 * A YAML syntax error as a config issue: yaml's message, then the offending line whole, with its
 * number and a caret under the column yaml points at:
 *
 *     YAML line 3: All mapping items must start at the same column
 *         3 |   url: [
 *           | ^
 *
 * The first line keeps the `YAML line N: ` form every tool and test reads; the two after it are
 * indented under it. The file is not parsed, so its tokens are unknown: the value of a secret key
 * (admin_token: ...), URL credentials and anything shaped like a GitLab token are cut out.
 */
export function yamlIssue(text: string, error: YAMLError): string {
  const pos = error.linePos?.[0];
  // With prettyErrors, yaml ends the first line with " at line 3, column 1:" and adds its own
  // context lines; the position is in the snippet already.
  const message = scrub((error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, ''));
  if (!pos) return `YAML line ?: ${message}`;
  const lines = text.split(/\r?\n/);
  const at = (error.code === 'MISSING_CHAR' && openingQuote(lines, pos.line, message)) || pos;
  return `YAML line ${pos.line}: ${message}\n${snippet(lines, at.line, at.col)}`;
}

/**
 * For a missing closing quote yaml points at the end of the file, where the quoted text ended;
 * the mistake is where it began: the last line before that with an odd count of that quote.
 */
function openingQuote(lines: readonly string[], fromLine: number, message: string): { line: number; col: number } | undefined {
  const quote = /Missing closing (["'])/.exec(message)?.[1];
  if (quote === undefined) return undefined;
  for (let line = Math.min(fromLine, lines.length); line >= 1; line--) {
    const text = lines[line - 1] ?? '';
    const count = text.split(quote).length - 1;
    if (count % 2 === 1) return { line, col: text.lastIndexOf(quote) + 1 };
  }
  return undefined;
}

// Lines are shown whole up to this many characters; a longer one, around the column.
const MAX_SHOWN = 120;

function snippet(lines: readonly string[], lineNo: number, col: number): string {
  let line = lineNo;
  let column = col;
  // An error at the end of the input (an unclosed quote or bracket) points at the empty line after
  // the last; the last line with text is what needs fixing.
  while (line > 1 && (lines[line - 1] ?? '').trim() === '') {
    line--;
    column = (lines[line - 1] ?? '').length + 1;
  }
  const raw = lines[line - 1] ?? '';
  const shown = visible(hideSecrets(raw));
  const caretAt = Math.min(visible(hideSecrets(raw.slice(0, Math.max(0, column - 1)))).length, shown.length);
  const start = shown.length > MAX_SHOWN ? Math.max(0, Math.min(caretAt - MAX_SHOWN / 2, shown.length - MAX_SHOWN)) : 0;
  const cut = shown.slice(start, start + MAX_SHOWN);
  const before = start > 0 ? '…' : '';
  const after = start + MAX_SHOWN < shown.length ? '…' : '';
  const gutter = ' '.repeat(String(line).length);
  return `    ${line} | ${before}${cut}${after}\n    ${gutter} | ${' '.repeat(caretAt - start + before.length)}^`;
}

// The key of a `key: value` line (also as a list item, quoted or not).
const KEY_LINE = /^(\s*(?:-\s+)?["']?)([\w.-]+)(["']?\s*:)(.*)$/;
// As the variables whose values are never quoted back (load.ts); a *_file key holds a path.
const SECRET_KEY = /TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|KEY/i;

function hideSecrets(line: string): string {
  const keyed = KEY_LINE.exec(line);
  if (keyed && SECRET_KEY.test(keyed[2]!) && !/_file$/.test(keyed[2]!) && keyed[4]!.trim() !== '') {
    return `${keyed[1]}${keyed[2]}${keyed[3]} ${REDACTED}`;
  }
  // http://user:password@proxy: the credentials go, the host stays.
  return scrub(line).replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, `$1${REDACTED}@`);
}
