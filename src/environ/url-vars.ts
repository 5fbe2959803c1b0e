// Variables other than SCRIPT_NAME and PATH_INFO that name the request's URL. Once the repair has
// rebuilt the public path as SCRIPT_NAME + PATH_INFO, each of them must say the same or be gone:
// Django, for one, takes its prefix from SCRIPT_URL or REDIRECT_URL when they are set
// (django/core/handlers/wsgi.py, get_script_name), so behind a rewrite that hides the .wsgi every
// link it built named the script.
//
// Who sets what:
// - Apache mod_rewrite: SCRIPT_URL, the decoded path (r->uri), and SCRIPT_URI, the same as an
//   absolute URL. An internal redirect (a rewrite in .htaccess, an Action handler) hands on the
//   earlier request's variables with "REDIRECT_" before their names (REDIRECT_SCRIPT_URL,
//   REDIRECT_SCRIPT_URI), adds REDIRECT_URL (its decoded path), and prefixes again per redirect.
// - nginx: DOCUMENT_URI ($document_uri, the decoded path after nginx's own rewrites).
// - lighttpd: REDIRECT_URI, the target its mod_rewrite made (percent-encoded, with the query).
// REQUEST_URI is the request as the client sent it, which the repair reads as the truth: kept.

import type { Environ } from '../exchange.js';
import { requestUriPath, show } from './repair-paths.js';

/**
 * How a variable names the URL. path: a decoded path, set to SCRIPT_NAME + PATH_INFO. url:
 * scheme://authority and a decoded path, whose path is set. target: a request target as a client
 * writes it (encoded, with a query), removed when it disagrees.
 */
type Form = 'path' | 'url' | 'target';

/**
 * Whether every URL-naming variable in `vars` says `scriptName + pathInfo`. Runs on every request:
 * it compares in place rather than build the path. The names servers use are read one by one
 * (formOf gives their forms): a loop over a list of names would make one keyed load see them all,
 * which V8 serves by its slowest path.
 */
export function urlVarsAgree(vars: Environ, scriptName: string, pathInfo: string): boolean {
  if (
    !agreesIfSet('path', vars.SCRIPT_URL, scriptName, pathInfo) ||
    !agreesIfSet('url', vars.SCRIPT_URI, scriptName, pathInfo) ||
    !agreesIfSet('path', vars.REDIRECT_URL, scriptName, pathInfo) ||
    !agreesIfSet('path', vars.REDIRECT_SCRIPT_URL, scriptName, pathInfo) ||
    !agreesIfSet('url', vars.REDIRECT_SCRIPT_URI, scriptName, pathInfo) ||
    !agreesIfSet('target', vars.REDIRECT_URI, scriptName, pathInfo) ||
    !agreesIfSet('path', vars.DOCUMENT_URI, scriptName, pathInfo)
  ) {
    return false;
  }
  // Variables of a second redirect come with a REDIRECT_URL only.
  if (vars.REDIRECT_URL === undefined) return true;
  for (const name in vars) {
    if (!name.startsWith('REDIRECT_REDIRECT_')) continue;
    const form = formOf(name);
    if (form !== null && !agrees(form, vars[name]!, scriptName, pathInfo)) return false;
  }
  return true;
}

/** Makes every URL-naming variable of `environ` (a copy the caller owns) say `path`, or removes it. */
export function alignUrlVars(environ: Environ, path: string): void {
  for (const name of Object.keys(environ)) {
    const form = formOf(name);
    if (form === null) continue;
    const value = environ[name]!;
    if (agrees(form, value, path, '')) continue;
    const origin = form === 'url' ? urlOrigin(value) : null;
    if (path === '' || form === 'target' || (form === 'url' && origin === null)) delete environ[name];
    else environ[name] = form === 'url' ? origin + path : path;
  }
}

/** For explain: how the URL-naming variables changed from `before` to `after`. */
export function urlVarChanges(before: Environ, after: Environ): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(before)) {
    if (formOf(name) === null || before[name] === after[name]) continue;
    lines.push(
      name in after
        ? `${name} ${show(before[name]!)} → ${show(after[name]!)}, to agree with SCRIPT_NAME + PATH_INFO`
        : `${name} ${show(before[name]!)} removed: it names another URL than SCRIPT_NAME + PATH_INFO`,
    );
  }
  return lines;
}

function formOf(name: string): Form | null {
  let base = name;
  let redirects = 0;
  while (base.startsWith('REDIRECT_')) {
    base = base.slice(9);
    redirects++;
  }
  if (base === 'SCRIPT_URL') return 'path';
  if (base === 'SCRIPT_URI') return 'url';
  if (redirects > 0 && base === 'URL') return 'path';
  if (redirects > 0 && base === 'URI') return 'target';
  if (redirects === 0 && base === 'DOCUMENT_URI') return 'path';
  return null;
}

function agreesIfSet(form: Form, value: string | undefined, head: string, tail: string): boolean {
  return value === undefined || agrees(form, value, head, tail);
}

/** Whether `value`, a variable of `form`, names the path `head + tail`. */
function agrees(form: Form, value: string, head: string, tail: string): boolean {
  if (form === 'target') {
    try {
      return requestUriPath(value) === head + tail;
    } catch {
      return false;
    }
  }
  let at = 0;
  if (form === 'url') {
    const scheme = value.indexOf('://');
    if (scheme <= 0) return false;
    at = value.indexOf('/', scheme + 3);
    if (at === -1) at = value.length;
  }
  return value.length - at === head.length + tail.length && value.startsWith(head, at) && value.endsWith(tail);
}

/** "https://example.org:8443" of "https://example.org:8443/blog/x", or null. */
function urlOrigin(url: string): string | null {
  const scheme = url.indexOf('://');
  if (scheme <= 0) return null;
  const slash = url.indexOf('/', scheme + 3);
  return slash === -1 ? url : url.slice(0, slash);
}
