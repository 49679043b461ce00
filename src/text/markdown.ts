import { visible } from './escape.js';

/**
 * Markdown for text the exporter does not control. report.md is pasted into issues and tickets,
 * where a live image (`![x](https://host/beacon)`) loads as soon as someone opens the page, and a
 * link or raw HTML can pass for ours: text from GitLab or any probed server is put in a code span,
 * where CommonMark shows everything literally; our own sentences are escaped so that nothing in them
 * can open a link, an image, HTML or a code span.
 */

export interface MarkdownOptions {
  /**
   * In a GFM table cell: a `|` splits cells even inside a code span unless escaped, and the table
   * parser (cmark-gfm, micromark) pairs backslashes before it (`\\|` is a backslash, then a cell
   * break). So a pipe after k backslashes is written after 2k+1: never a break, in any of them.
   * Shown then with 2k backslashes before the pipe (there is no way to show exactly `\|` in a
   * table's code span); report.json keeps it single.
   */
  readonly inTable?: boolean;
}

/**
 * `text` as one CommonMark code span, shown exactly as it is (control characters as visible
 * escapes, so the span stays on its line): fenced by a backtick run longer than any inside, and
 * padded with a space when the text starts or ends with a backtick or a space (the parser strips one
 * space on each side). Empty text gives '' (`` would not be a code span).
 */
export function codeSpan(text: string, options: MarkdownOptions = {}): string {
  let content = visible(text);
  if (content === '') return '';
  if (options.inTable) content = content.replace(/(\\*)\|/g, (_, backslashes: string) => `${backslashes}${backslashes}\\|`);
  const longest = Math.max(0, ...(content.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = /^[` ]|[` ]$/.test(content) && !/^ +$/.test(content) ? ' ' : '';
  return `${fence}${pad}${content}${pad}${fence}`;
}

/**
 * Our own text in a paragraph or a table cell: one line, and every character that could start a
 * link, an image, raw HTML, an autolink or a code span backslash-escaped (`\` first, so an escape
 * cannot be undone). Pipes are escaped everywhere, so the same text fits a table cell.
 */
export function markdownText(text: string): string {
  return visible(text).replace(/[\\`[\]<>|]/g, (c) => `\\${c}`);
}
