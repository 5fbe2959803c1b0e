// URL path handling shared by every front end. Paths in the environ are PEP 3333 byte strings:
// percent-decoded bytes, one character per byte.

import { WsgikitError } from '../errors.js';

const HEX = /^[0-9A-Fa-f]{2}$/;
/** A whole segment that is "." or "..". */
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/**
 * Percent-decodes a raw URL path into a byte string. Refuses what no server should hand an app:
 * a malformed escape, and NUL (it cannot cross into a C string or the bridge's framing).
 */
export function decodePath(raw: string): string {
  if (raw.indexOf('%') === -1) {
    if (raw.indexOf('\0') !== -1) throw badPath(raw, 'contains a NUL byte');
    return raw;
  }
  let out = '';
  let last = 0;
  for (let i = raw.indexOf('%'); i !== -1; i = raw.indexOf('%', last)) {
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX.test(hex)) throw badPath(raw, `has a malformed escape at "${raw.slice(i, i + 3)}"`);
    const code = parseInt(hex, 16);
    if (code === 0) throw badPath(raw, 'contains an encoded NUL (%00)');
    out += raw.slice(last, i) + String.fromCharCode(code);
    last = i + 3;
  }
  return out + raw.slice(last);
}

/**
 * Resolves "." and ".." segments the way Apache and nginx do before a path reaches an app, so
 * `/app/../secret` can never name something above the mount. A ".." above the root is refused.
 * Runs on the decoded path: `%2e%2e` counts as "..".
 */
export function removeDotSegments(path: string): string {
  // Most paths have dots only in names ("/app.wsgi/x"): one regex test instead of a split and join.
  if (!DOT_SEGMENT.test(path)) return path;
  const input = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const seg = input[i]!;
    if (seg === '.') {
      if (i === input.length - 1) out.push('');
    } else if (seg === '..') {
      if (out.length <= 1) throw badPath(path, 'climbs above the root with ".."');
      out.pop();
      if (i === input.length - 1) out.push('');
    } else {
      out.push(seg);
    }
  }
  return out.join('/');
}

function badPath(path: string, why: string): WsgikitError {
  return new WsgikitError('WSGIKIT_BAD_REQUEST', `The request path ${JSON.stringify(path)} ${why}.`);
}
