/**
 * Text a hostile server can send, and the checks that it stays inert in what the exporter prints:
 * no raw control character (terminal escapes, forged lines, reordered text) and, in Markdown, no
 * server text outside a code span.
 */

/**
 * Newline (a forged log line), ESC sequences (clear the screen, an OSC 8 hyperlink), the 8-bit CSI
 * U+009B, NEL U+0085, a bidi override and isolate, the Unicode line separator, DEL and NUL.
 */
export const HOSTILE =
  'boom\nlevel=error msg="forged line"\r\x1b[2J\x1b]8;;http://evil.invalid/\x07click\x1b]8;;\x07 \u009b31mred \u202eevil\u202c \u2066iso\u2069 a\u2028b\u0085c\x7fd\x00e\tf';

/** Every character the exporter must never print raw; `\n` is allowed only as our own line break. */
// eslint-disable-next-line no-control-regex
export const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** The first unsafe character of `text` and its surroundings, for a readable failure; undefined when none. */
export function unsafeAt(text: string): string | undefined {
  const match = UNSAFE.exec(text);
  if (!match) return undefined;
  const at = match.index;
  return `U+${match[0].codePointAt(0)!.toString(16).padStart(4, '0')} at ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 40))}`;
}

/**
 * The Markdown as a renderer sees it outside code spans: every code span's content replaced by
 * `<code>`. CommonMark: a backtick run not preceded by a backslash opens a span that the next run
 * of the same length closes (backslashes do nothing inside). In a GFM table row the cells are split
 * at unescaped pipes first, then `\|` stands for a pipe inside the cell, code spans included.
 */
export function outsideCodeSpans(markdown: string): string {
  return markdown
    .split('\n')
    .map((line) => (line.startsWith('|') ? tableCells(line).map(stripCodeSpans).join(' | ') : stripCodeSpans(line)))
    .join('\n');
}

/**
 * The cells of a table row, split as cmark-gfm (GitHub, GitLab) and micromark do: backslash escapes
 * pair up first, so a pipe splits unless an odd run of backslashes comes right before it (`\\|` is
 * an escaped backslash, then a break). markdown-it splits less (any backslash before the pipe), so a
 * row that holds here holds there. Then `\|` stands for a pipe inside the cell, code spans included.
 */
export function tableCells(row: string): string[] {
  const cells: string[] = [];
  let current = '';
  for (let i = 0; i < row.length; i++) {
    const c = row[i]!;
    if (c === '\\' && i + 1 < row.length) {
      current += row.slice(i, i + 2);
      i++;
    } else if (c === '|') {
      cells.push(current);
      current = '';
    } else current += c;
  }
  cells.push(current);
  // The leading and trailing pipes leave an empty first and last piece.
  return cells.slice(1, -1).map((cell) => cell.replace(/\\\|/g, '|').trim());
}

function stripCodeSpans(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      out += text.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (c !== '`') {
      out += c;
      i++;
      continue;
    }
    const run = /^`+/.exec(text.slice(i))![0];
    const close = findRun(text, i + run.length, run.length);
    if (close === -1) {
      out += run;
      i += run.length;
    } else {
      out += '<code>';
      i = close + run.length;
    }
  }
  return out;
}

/** Where the next backtick run of exactly `length` starts at or after `from`, or -1. */
function findRun(text: string, from: number, length: number): number {
  const pattern = /`+/g;
  pattern.lastIndex = from;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) if (m[0].length === length) return m.index;
  return -1;
}

/** The contents of every code span of one line (outside tables), as a Markdown renderer shows them. */
export function codeSpanContents(line: string): string[] {
  const contents: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === '\\') {
      i += 2;
      continue;
    }
    if (line[i] !== '`') {
      i++;
      continue;
    }
    const run = /^`+/.exec(line.slice(i))![0];
    const close = findRun(line, i + run.length, run.length);
    if (close === -1) {
      i += run.length;
      continue;
    }
    const raw = line.slice(i + run.length, close);
    contents.push(/^ .*[^ ].* $/.test(raw) ? raw.slice(1, -1) : raw);
    i = close + run.length;
  }
  return contents;
}
