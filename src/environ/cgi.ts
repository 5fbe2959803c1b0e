// The environ for a request that arrived as CGI: the process environment the server (or suEXEC,
// cgiwrap) gave the program. Keeps what describes the request and drops what describes the process
// (PATH, HOME, LD_*, NODE_*, …), then hands over byte strings as PEP 3333 wants them.
//
// Node decodes environment values as UTF-8. Re-encoding them as UTF-8 gives the server's bytes
// back exactly when they were valid UTF-8 (the usual case: a URL with "é" arrives as C3 A9).
// Bytes that are not valid UTF-8 (a latin-1 "%E9" that Apache decoded into PATH_INFO) became
// U+FFFD and cannot be recovered from process.env; on Linux /proc/self/environ still holds the
// exact bytes, so readCgiEnviron() reads it, but only when a kept value shows a U+FFFD (the read
// has a cost, paid only on such requests); elsewhere the limitation stands.

import { Buffer } from 'node:buffer';
import process from 'node:process';
import { readFileSync } from 'node:fs';
import type { Environ } from '../exchange.js';

/** The CGI meta-variables and server variables an app may see (RFC 3875 plus what servers add). */
const KEEP = new Set([
  'AUTH_TYPE',
  'CONTENT_LENGTH',
  'CONTENT_TYPE',
  'DATE_GMT',
  'DATE_LOCAL',
  'DOCUMENT_ARGS',
  'DOCUMENT_NAME',
  'DOCUMENT_PATH_INFO',
  'DOCUMENT_ROOT',
  'DOCUMENT_URI',
  'GATEWAY_INTERFACE',
  'HTTPS',
  'LAST_MODIFIED',
  'ORIG_PATH_INFO',
  'ORIG_SCRIPT_NAME',
  'PATH_INFO',
  'PATH_TRANSLATED',
  'QUERY_STRING',
  'QUERY_STRING_UNESCAPED',
  'REMOTE_ADDR',
  'REMOTE_HOST',
  'REMOTE_IDENT',
  'REMOTE_PORT',
  'REMOTE_USER',
  'REQUEST_METHOD',
  'REQUEST_SCHEME',
  'REQUEST_URI',
  'SCRIPT_FILENAME',
  'SCRIPT_NAME',
  'SCRIPT_URI',
  'SCRIPT_URL',
  'SERVER_ADDR',
  'SERVER_ADMIN',
  'SERVER_NAME',
  'SERVER_PORT',
  'SERVER_PROTOCOL',
  'SERVER_SIGNATURE',
  'SERVER_SOFTWARE',
  'UNIQUE_ID',
  'USER_NAME',
]);

/** Prefixes of variables that describe the request: headers, TLS, internal redirects, Alias context. */
const KEEP_PREFIX = /^(?:HTTP_|SSL_|REDIRECT_|CONTEXT_)/;

/** Whether a CGI variable belongs in the app's environ. */
export function isRequestVariable(name: string): boolean {
  return KEEP.has(name) || KEEP_PREFIX.test(name);
}

/**
 * The request's variables from a CGI process environment, as byte strings. Values Node decoded
 * from invalid UTF-8 hold U+FFFD (re-encoded as EF BF BD): use readCgiEnviron() to avoid that.
 */
export function environFromCgi(env: NodeJS.ProcessEnv): Environ {
  const environ: Environ = {};
  for (const name of Object.keys(env)) {
    const value = env[name];
    if (value === undefined || !isRequestVariable(name)) continue;
    environ[name] = utf8Bytes(value);
  }
  return environ;
}

/** The request's variables from pairs that are byte strings already (a relayed environment). */
export function requestVariables(pairs: Record<string, string>): Environ {
  const environ: Environ = {};
  for (const name of Object.keys(pairs)) if (isRequestVariable(name)) environ[name] = pairs[name]!;
  return environ;
}

/** The same from the raw bytes of an environment block ("NAME=value\0…", as /proc/self/environ has it). */
export function environFromEnvironBlock(block: Buffer): Environ {
  const environ: Environ = {};
  for (const entry of block.toString('latin1').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (isRequestVariable(name) && !(name in environ)) environ[name] = entry.slice(eq + 1);
  }
  return environ;
}

/**
 * This process's CGI request variables, byte-exact where it can be: from process.env, or from
 * /proc/self/environ when process.env lost bytes to U+FFFD (and that file is readable).
 */
export function readCgiEnviron(env: NodeJS.ProcessEnv = process.env, procEnviron = '/proc/self/environ'): Environ {
  const environ = environFromCgi(env);
  if (!Object.values(environ).some((v) => v.indexOf(LOST) !== -1)) return environ;
  let block: Buffer;
  try {
    block = readFileSync(procEnviron);
  } catch {
    return environ; // not Linux, or /proc not mounted: keep the lossy values
  }
  const exact = environFromEnvironBlock(block);
  // /proc/self/environ is the environment as exec'd; take from it only what process.env still has.
  for (const name of Object.keys(environ)) {
    const raw = exact[name];
    // Only if it is still the same value: it decodes to what Node shows.
    if (
      raw !== undefined &&
      environ[name]!.indexOf(LOST) !== -1 &&
      Buffer.from(raw, 'latin1').toString('utf8') === env[name]
    ) {
      environ[name] = raw;
    }
  }
  return environ;
}

/** U+FFFD as a byte string (EF BF BD). */
const LOST = '\xef\xbf\xbd';

/** Text (a variable's value, a path) as the bytes of its UTF-8, one per character: fsPath's inverse. */
export function utf8Bytes(value: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\x7f]/.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
}
