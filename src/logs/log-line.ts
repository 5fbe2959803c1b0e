// Turns what an app printed into log lines that cannot lie. Every line starts with a timestamp and
// a source tag that wsgikit wrote, so nothing the app prints may start a line of its own: a lone
// CR (which a terminal shows as a fresh line), an ANSI escape, NEL or U+2028 is written as a
// visible escape instead. Tabs stay, because tracebacks and aligned output use them.
import { Buffer } from 'node:buffer';

/** Longest line body in UTF-8 bytes; longer lines continue on the next line, nothing is dropped. */
export const MAX_LINE_BYTES = 16 * 1024;

/** Marks the pieces after the first of a line that was too long for one. */
export const CONTINUED = '(continued) ';

/**
 * The log lines for one `text`, newline-terminated and joined, ready for a single write call so
 * that a multi-line entry (a traceback) is never interleaved with another process's lines.
 */
export function formatEntry(date: Date, source: string, lines: readonly string[]): string {
  const prefix = `${date.toISOString()} [${escapeControls(source).replace(/[[\]]/g, '')}] `;
  let out = '';
  for (const line of lines) {
    let first = true;
    for (const piece of splitLong(line, MAX_LINE_BYTES)) {
      out += prefix + (first ? '' : CONTINUED) + escapeControls(piece) + '\n';
      first = false;
    }
  }
  return out;
}

/**
 * The lines of a piece of text: LF and CRLF end lines; one trailing newline does not add an empty
 * line (apps print "…\n"), but an empty text is still one (empty) line so a write is never lost.
 */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

// C0 controls but tab, DEL, C1 controls (NEL among them), and the Unicode line and paragraph
// separators. Lone surrogates are left to the UTF-8 encoder, which writes U+FFFD.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/g;

export function escapeControls(text: string): string {
  return text.replace(CONTROL, (char) => {
    switch (char) {
      case '\r':
        return '\\r';
      case '\n':
        return '\\n';
      case '\u2028':
        return '\\u2028';
      case '\u2029':
        return '\\u2029';
      default:
        return '\\x' + char.charCodeAt(0).toString(16).padStart(2, '0');
    }
  });
}

/** Splits at code point boundaries so that each piece is at most `maxBytes` of UTF-8. */
function splitLong(line: string, maxBytes: number): string[] {
  // Fast path: a string of n UTF-16 units never takes more than 3n bytes of UTF-8.
  if (line.length * 3 <= maxBytes || Buffer.byteLength(line) <= maxBytes) return [line];
  const pieces: string[] = [];
  let start = 0;
  let bytes = 0;
  let i = 0;
  while (i < line.length) {
    const code = line.codePointAt(i)!;
    const units = code > 0xffff ? 2 : 1;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) {
      pieces.push(line.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
    i += units;
  }
  pieces.push(line.slice(start));
  return pieces;
}
