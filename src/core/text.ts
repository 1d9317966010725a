// Text from outside (DNS names, IPVS lines, config values) made safe to show on one line: the one escaping rule.
//
// Unsafe: controls (C0 with newline, carriage return and the ESC of ANSI sequences, DEL, C1 with its
// one-byte CSI), format characters (bidi overrides that make a terminal show text in another order)
// and the Unicode line and paragraph separators. Each becomes a visible escape (`\x0a`, `\x1b`,
// `\u{2028}`), so the text cannot end a line, forge a second one, or drive a terminal.

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const UNSAFE_OR_BACKSLASH = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

function escapeChar(c: string): string {
  if (c === '\\') return '\\\\';
  const n = c.codePointAt(0)!;
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
}

/** For a log line or stderr: unsafe characters escaped, backslashes left as they are (so text that
 *  printable() already escaped is not escaped twice). */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** For quoting outside text inside a message: unsafe characters AND backslashes escaped (so the
 *  quote is unambiguous), cut to `max` characters. */
export function printable(text: string, max = 200): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return cut.replace(UNSAFE_OR_BACKSLASH, escapeChar);
}

/** A multi-line message (a config problem list) for stderr: each line escaped, the line breaks kept. */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeUnsafe).join('\n');
}
