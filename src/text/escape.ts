/**
 * Text from outside the exporter (GitLab's answers and error messages, a gRPC server's
 * grpc-message, whatever a proxy says) made safe to print: every character that a terminal, a log
 * reader or a viewer would act on rather than show becomes a visible escape. Applied where text
 * leaves the process (the log formatter, the report renderers, the status page), so no field can
 * be forgotten; `quote` (core/redact.ts) also applies it where probe messages are built.
 */

/**
 * The characters never printed raw:
 * - C0 controls U+0000-U+001F (newline and tab included: a newline forges a log line; ESC starts
 *   every ANSI and OSC sequence: clear the screen, hyperlinks, the window title), and DEL;
 * - C1 controls U+0080-U+009F (U+009B is an 8-bit CSI, U+009D an OSC, U+0085 NEL a line break);
 * - U+2028 and U+2029, the Unicode line and paragraph separators (line breaks for many viewers);
 * - the bidirectional formatting characters (U+202A-U+202E embeddings and overrides, U+2066-U+2069
 *   isolates, the marks U+200E, U+200F, U+061C), which reorder how the text around them reads.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- the same set, for a test without the /g state
const HAS_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Whether `text` holds a character that `visible` would escape. */
export function hasUnsafeCharacters(text: string): boolean {
  return HAS_UNSAFE.test(text);
}

/**
 * `text` with every unsafe character shown as an escape, as in a JSON string: `\n`, `\r`, `\t`,
 * else `\u001b`, `\u009b`, `\u202e`. Other text, backslashes included, is left as it is, so the
 * result is on one line and reads the same; idempotent.
 */
export function visible(text: string): string {
  return text.replace(UNSAFE, (c) => SHORT[c] ?? unicodeEscape(c));
}

// What JSON.stringify leaves raw in strings: every unsafe character but C0, which it escapes (and
// whose newline, tab and carriage return are also the whitespace between tokens, not to be touched).
const JSON_RAW = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON text (JSON.stringify's or pino's output, indented or not) with the characters left raw
 * (DEL, C1, the line separators, bidi controls) written as `\uXXXX` escapes: the same JSON value,
 * safe on a terminal. These characters only ever occur inside JSON strings, where the escape means
 * the same character.
 */
export function escapeJsonText(json: string): string {
  return json.replace(JSON_RAW, unicodeEscape);
}
