// CONTENT_LENGTH, as every front end reads it (CGI variables, FastCGI PARAMS, an HTTP header).
// A gateway answers a length it cannot trust with 400 before any app code runs, as node:http does
// for its own requests: an app handed "-5" or "12abc" either crashes on it or reads garbage.
//
// The native CGI launcher hands a request to this code whenever CONTENT_LENGTH is not a plain
// decimal, so the rule here is the one visitors meet on every front end.

import { WsgikitError } from '../errors.js';

/**
 * The body length CONTENT_LENGTH declares: null when it is absent or empty (no body, or one whose
 * end the server marks, as a chunked one), the number for a plain decimal. Anything else (a sign,
 * spaces, other characters, more than Number.MAX_SAFE_INTEGER) throws WSGIKIT_BAD_REQUEST.
 */
export function declaredBodyLength(value: string | undefined): number | null {
  if (value === undefined || value === '') return null;
  if (isPlainDecimal(value)) {
    const length = Number(value);
    if (length <= Number.MAX_SAFE_INTEGER) return length;
  }
  throw new WsgikitError(
    'WSGIKIT_BAD_REQUEST',
    `The request's Content-Length ${JSON.stringify(value.slice(0, 40))} is not a length in bytes.`,
  );
}

/** Whether `value` is one or more ASCII digits and nothing else (a loop costs less than a regex test). */
export function isPlainDecimal(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
