// Path pieces the SCRIPT_NAME / PATH_INFO repair (repair.ts) is built from. Every path here is a
// PEP 3333 byte string (one character per byte), as the server sent it, except where a name says
// `fsPath`: that is the same bytes decoded as UTF-8, the form node:fs and src/app take.

import { Buffer } from 'node:buffer';
import { WsgikitError } from '../errors.js';
import { decodePath, removeDotSegments } from './url-path.js';

/**
 * The path of REQUEST_URI as an app should see it: query cut off, percent-decoded to bytes, runs of
 * "/" merged (Apache and nginx merge them before they split SCRIPT_NAME / PATH_INFO), "." and ".."
 * resolved. Null for "*" (OPTIONS *). Throws WSGIKIT_BAD_REQUEST for %00, a bad escape, or a ".."
 * above the root.
 */
export function requestUriPath(requestUri: string): string | null {
  let start = 0;
  if (requestUri[0] !== '/') {
    if (requestUri === '*') return null;
    // Absolute form: "http://host/path?q".
    const scheme = requestUri.indexOf('://');
    if (scheme === -1) {
      throw new WsgikitError('WSGIKIT_BAD_REQUEST', `The request target ${JSON.stringify(requestUri)} is not valid.`);
    }
    start = requestUri.indexOf('/', scheme + 3);
    if (start === -1) return '/';
  }
  const q = requestUri.indexOf('?', start);
  const raw = requestUri.slice(start, q === -1 ? undefined : q) || '/';
  return removeDotSegments(mergeSlashes(decodePath(raw)));
}

export function mergeSlashes(path: string): string {
  return path.indexOf('//') === -1 ? path : path.replace(/\/{2,}/g, '/');
}

/** Whether `prefix` is `path` or a whole-segment prefix of it ("/app" prefixes "/app/x", not "/apps"). */
export function isPathPrefix(path: string, prefix: string): boolean {
  if (prefix === '' || prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith('/') || path[prefix.length] === '/';
}

export function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** "/blog/site.wsgi" → "/blog"; "/site.wsgi" → "". */
export function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '' : path.slice(0, slash);
}

/** Whether `name` ends, in any case, with one of `extensions` (lower case) and is longer. */
export function hasAppExtension(name: string, extensions: readonly string[]): boolean {
  for (const ext of extensions) if (name.length > ext.length && endsInLowerCase(name, ext)) return true;
  return false;
}

/**
 * `name.toLowerCase().endsWith(tail)` for a latin-1 name, without making the lowered copy: a byte
 * string's letters are A–Z and À–Þ (but ×), each 32 below its lower case.
 */
function endsInLowerCase(name: string, tail: string): boolean {
  const at = name.length - tail.length;
  for (let i = 0; i < tail.length; i++) {
    let c = name.charCodeAt(at + i);
    if (c > 0xff) return name.toLowerCase().endsWith(tail); // not a byte string: the general rule
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0xc0 && c <= 0xde && c !== 0xd7)) c += 32;
    if (c !== tail.charCodeAt(i)) return false;
  }
  return true;
}

/** `path` without the trailing `tail`, or null when it does not end with it. */
export function withoutTail(path: string, tail: string): string | null {
  if (tail === '') return path;
  return path.endsWith(tail) ? path.slice(0, path.length - tail.length) : null;
}

/** The longest whole-segment prefix two paths share: ("/blog/post", "/blog/x") → "/blog". */
export function commonPrefix(a: string, b: string): string {
  const as = a.split('/');
  const bs = b.split('/');
  let n = 0;
  while (n < as.length && n < bs.length && as[n] === bs[n]) n++;
  return as.slice(0, n).join('/');
}

/** The longest whole-segment suffix two paths share: ("/app/foo", "/foo") → "/foo". */
export function commonSuffix(a: string, b: string): string {
  const as = a.split('/');
  const bs = b.split('/');
  let n = 0;
  // Index 0 is the empty piece before the leading "/"; it never counts as a segment.
  while (n < as.length - 1 && n < bs.length - 1 && as[as.length - 1 - n] === bs[bs.length - 1 - n]) n++;
  return n === 0 ? '' : '/' + as.slice(as.length - n).join('/');
}

export interface MountSplit {
  scriptName: string;
  pathInfo: string;
  /** How it was found, for explain (made only when asked for). */
  how: () => string;
}

/**
 * When a rewrite hides the script, REQUEST_URI holds the public path and SCRIPT_NAME the hidden
 * one. The mount is then what the public path has before PATH_INFO (Django's SCRIPT_URL rule) or,
 * when PATH_INFO is not a tail of it, the longest prefix of the public path that is also a prefix
 * of SCRIPT_NAME's folder (mod_wsgi's dirname rule, generalised: docs/server-layouts.md rule 3). Both pieces
 * come from `uriPath`, which requestUriPath() has already freed of "..".
 */
export function mountFromRequestUri(uriPath: string, scriptName: string, pathInfo: string): MountSplit {
  if (pathInfo.startsWith('/') && uriPath.endsWith(pathInfo)) {
    return {
      scriptName: uriPath.slice(0, uriPath.length - pathInfo.length),
      pathInfo,
      how: () => 'the request path ends with PATH_INFO; what comes before it is the mount',
    };
  }
  const mount = commonPrefix(uriPath, dirname(scriptName));
  return {
    scriptName: mount,
    pathInfo: uriPath.slice(mount.length),
    how: () =>
      `the longest prefix of the request path that is also a prefix of the script's folder ${show(dirname(scriptName))}`,
  };
}

/** At most this many app-named prefixes are looked up per path, so a crafted URL cannot cost much. */
const MAX_LOOKUPS = 8;

export interface FoundApp {
  /** The app file (byte string) and what followed it in the path ("" or "/…"). */
  file: string;
  tail: string;
}

/**
 * Walks a filesystem path from its start to the first prefix that ends in an app extension and is
 * a regular file, the way fcgiwrap and PHP's fix_pathinfo find the script in
 * PATH_TRANSLATED / SCRIPT_FILENAME. Only app-named prefixes are looked up.
 */
export function findAppFile(
  path: string,
  extensions: readonly string[],
  isFile: (fsPath: string) => boolean,
): FoundApp | null {
  let lookups = 0;
  for (let end = path.indexOf('/', 1); ; end = path.indexOf('/', end + 1)) {
    const prefix = end === -1 ? path : path.slice(0, end);
    if (hasAppExtension(lastSegment(prefix), extensions)) {
      if (isFile(fsPath(prefix))) return { file: prefix, tail: end === -1 ? '' : path.slice(end) };
      if (++lookups >= MAX_LOOKUPS) return null;
    }
    if (end === -1) return null;
  }
}

/**
 * A filesystem path the server sent (bytes) as node:fs takes it: decoded as UTF-8. A name that is
 * not valid UTF-8 does not survive this (U+FFFD), so such a file is not found.
 */
export function fsPath(bytes: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(bytes) ? Buffer.from(bytes, 'latin1').toString('utf8') : bytes;
}

/** A byte string for an explain line: quoted, with spaces, controls and non-ASCII bytes as %XX. */
export function show(bytes: string): string {
  const hex = (c: string): string => '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
  // eslint-disable-next-line no-control-regex
  return '"' + bytes.replace(/[\x00-\x20\x7f-\xff]/g, hex) + '"';
}
