// The FastCGI Authorizer role (FastCGI 1.0 §6.3): the web server asks the app whether a request
// may go on, sending the request's CGI variables (headers and cookies included) and no body.
// The app answers as usual and the server interprets the answer: Status 200 allows (headers named
// `Variable-NAME` become variables of the real request; the body is ignored), anything else denies
// (what the client is sent then is up to the server). wsgikit only runs the app and passes its
// response on unchanged, so all this file does is say which roles are served and what the app is
// told about its role.

import type { Environ } from '../exchange.js';
import { Role } from './protocol.js';

/** The roles wsgi-fcgi serves. FILTER is still answered with FCGI_UNKNOWN_ROLE. */
export const SERVED_ROLES: ReadonlySet<number> = new Set([Role.Responder, Role.Authorizer]);

/**
 * An authorizer request's environ: FCGI_ROLE=AUTHORIZER (the variable FastCGI libraries set for
 * their apps), and no CONTENT_LENGTH, as the request has no body for the app.
 */
export function authorizerEnviron(environ: Environ): Environ {
  delete environ.CONTENT_LENGTH;
  environ.FCGI_ROLE = 'AUTHORIZER';
  return environ;
}
