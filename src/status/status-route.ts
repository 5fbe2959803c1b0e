// The owner's URLs under an app, answered by wsgikit before the app sees the request:
//
//   SCRIPT_NAME/.wsgikit/status    the status page (HTML; JSON with ?format=json or Accept: application/json)
//   SCRIPT_NAME/.wsgikit/restart   POST: reload the app (same-origin, with the page's token)
//   SCRIPT_NAME/.wsgikit/login     ?token=…: sets the owner cookie, then goes to the status page
//
// Anyone who is not the owner gets the same 404 as for a missing app, whatever the method, so the
// URLs do not tell a stranger that wsgikit is there. Every other path returns null at the cost of
// one string comparison: this runs before every request.

import { Buffer } from 'node:buffer';
import { isOwnerRequest, OWNER_COOKIE } from '../app/owner.js';
import { WsgikitError } from '../errors.js';
import type { AppRequest, ResponseSink } from '../exchange.js';
import { lazyCrypto } from '../lazy-builtins.js';
import type { Pool } from '../pool/pool.js';
import { errorPage, type Page } from '../pages/error-page.js';
import { escapeHtml } from '../pages/escape.js';
import { pageFormat } from '../pages/format.js';
import { messagePage, statusHtml, statusJson } from './status-page.js';

export const STATUS_PREFIX = '/.wsgikit/';

/** The most of a restart form's body read; the form sends about 40 bytes. */
const MAX_FORM_BYTES = 4096;
/** How often the HTML status page reloads itself. */
const REFRESH_SECONDS = 10;
/** How long the owner cookie the login sets lasts. */
const COOKIE_MAX_AGE = 365 * 24 * 3600;

/**
 * The answer for a wsgikit URL, or null when the request is for the app. The request's `owner`
 * says who may see these pages (the front end decides: always under wsgi-run, by the settings'
 * owner rules under FastCGI and CGI). `pool`: the app's, or null when there is none to show (a
 * one-shot CGI request). `ownerTokenSha256`: the settings' `owner_token_sha256`, for the login URL.
 * `setupNotes`: what the owner should fix about the setup (src/app/user-space.ts), shown on the status
 * page. The body of the request is read (a restart form) or drained.
 */
export function statusRoute(
  request: AppRequest,
  pool: Pool | null,
  ownerTokenSha256: string | null,
  setupNotes: readonly string[] = [],
): Promise<Page> | null {
  const path = request.environ.PATH_INFO;
  if (path === undefined || !path.startsWith(STATUS_PREFIX)) return null;
  const action = path.slice(STATUS_PREFIX.length);
  if (action !== 'status' && action !== 'restart' && action !== 'login') return null;
  if (action === 'login') return settle(request, login(request, ownerTokenSha256));
  if (!request.owner) return settle(request, notFound(request));
  if (action === 'status') return settle(request, status(request, pool, setupNotes));
  return restart(request, pool);
}

/** Writes a page through a front end's sink (a HEAD gets the head only). */
export function sendPage(sink: ResponseSink, page: Page, method: string | undefined): void {
  sink.start(`${page.status} ${REASONS[page.status] ?? 'Status'}`, page.headers);
  if (method !== 'HEAD') sink.write(page.body);
  sink.end();
}

/** For a front end: answers a wsgikit URL through `sink` and returns true; false for the app's URLs. */
export function answerStatusRoute(
  request: AppRequest,
  pool: Pool | null,
  ownerTokenSha256: string | null,
  sink: ResponseSink,
  setupNotes: readonly string[] = [],
): boolean {
  const answer = statusRoute(request, pool, ownerTokenSha256, setupNotes);
  if (answer === null) return false;
  answer.then(
    (page) => sendPage(sink, page, request.environ.REQUEST_METHOD),
    (error: unknown) => sink.fail(new WsgikitError('WSGIKIT_BAD_REQUEST', String(error))),
  );
  return true;
}

// --- the three URLs -------------------------------------------------------------------------------

function status(request: AppRequest, pool: Pool | null, setupNotes: readonly string[]): Page {
  const { environ } = request;
  const format = wantsJson(request) ? 'json' : pageFormat(environ.HTTP_ACCEPT) === 'text' ? 'text' : 'html';
  if (pool === null) {
    return messagePage(
      200,
      'No status to show',
      [
        'This request ran in a one-shot CGI process: the app is started for each request and nothing keeps ' +
          'running in between, so there are no workers, counters or charts to show.',
        'That happens when the settings say cgi_daemon = false, or when the daemon could not be started (the ' +
          "app's log says why). With the daemon, or under wsgi-fcgi, this page shows the app's workers. " +
          'Each request already runs the latest code, so there is nothing to restart.',
        ...setupNotes,
      ],
      format,
    );
  }
  const snapshot = pool.snapshot();
  const base = environ.SCRIPT_NAME ?? '';
  const restarted = /(^|&)restarted=1(&|$)/.test(environ.QUERY_STRING ?? '');
  const view = {
    base,
    restartToken: restartToken(pool),
    notice: restarted ? 'Restart requested: new requests go to fresh workers.' : undefined,
    refreshSeconds: REFRESH_SECONDS,
    setupNotes,
  };
  return format === 'json' ? statusJson(snapshot, view) : statusHtml(snapshot, view);
}

async function restart(request: AppRequest, pool: Pool | null): Promise<Page> {
  const { environ } = request;
  const format = wantsJson(request) ? 'json' : 'html';
  if (environ.REQUEST_METHOD !== 'POST') {
    drain(request);
    return messagePage(405, 'Method not allowed', ['Restart with the button on the status page.'], format, [
      ['Allow', 'POST'],
    ]);
  }
  if (!sameOrigin(environ)) {
    drain(request);
    return refused(format, 'The request did not come from this site (its Origin or Referer names another host).');
  }
  const form = await readForm(request);
  if (pool === null) {
    return messagePage(409, 'Nothing to restart', ['This request ran in a one-shot CGI process.'], format);
  }
  if (form === null || !tokenEquals(form.get('token'), restartToken(pool))) {
    return refused(format, 'The form is out of date or incomplete: load the status page again and press Restart.');
  }
  pool.reload('restart requested on the status page');
  const location = `${environ.SCRIPT_NAME ?? ''}/.wsgikit/status?restarted=1`;
  return messagePage(303, 'Restarting', ['The app is restarting.'], format, [['Location', location]]);
}

function login(request: AppRequest, ownerTokenSha256: string | null): Page {
  const { environ } = request;
  const token = new URLSearchParams(environ.QUERY_STRING ?? '').get('token') ?? '';
  const valid =
    ownerTokenSha256 !== null &&
    /^[A-Za-z0-9._~-]{16,256}$/.test(token) &&
    isOwnerRequest({ ownerAddresses: [], ownerTokenSha256 }, '', `${OWNER_COOKIE}=${token}`);
  if (!valid) return notFound(request);
  const base = environ.SCRIPT_NAME ?? '';
  const path = base !== '' && /^\/[\x21-\x3a\x3c-\x7e]*$/.test(base) ? base : '/';
  const https = /^(on|1)$/i.test(environ.HTTPS ?? '') || environ.REQUEST_SCHEME === 'https';
  const cookie =
    `${OWNER_COOKIE}=${token}; Path=${path}; Max-Age=${COOKIE_MAX_AGE}; HttpOnly; SameSite=Strict` +
    (https ? '; Secure' : '');
  const target = `${base}/.wsgikit/status`;
  // A 200 that moves on by itself rather than a 3xx: a login link opened from another site (a mail)
  // is a cross-site navigation, and a SameSite=Strict cookie is not sent along its redirects.
  return messagePage(
    200,
    'Signed in as the site owner',
    [
      'This browser now holds the owner cookie: it sees the status page and full error details.',
      `Going to the status page: ${target}`,
    ],
    'html',
    [
      ['Set-Cookie', cookie],
      ['Referrer-Policy', 'no-referrer'],
    ],
    `<meta http-equiv="refresh" content="0; url=${escapeHtml(target)}">`,
  );
}

// --- checks -----------------------------------------------------------------------------------------

const tokens = new WeakMap<Pool, string>();

/** The pool's restart token, made on first use; it lives as long as the pool. */
function restartToken(pool: Pool): string {
  let token = tokens.get(pool);
  if (token === undefined) {
    token = lazyCrypto().randomBytes(16).toString('hex');
    tokens.set(pool, token);
  }
  return token;
}

function tokenEquals(given: string | null, expected: string): boolean {
  if (given === null || given.length !== expected.length) return false;
  const { timingSafeEqual } = lazyCrypto();
  return timingSafeEqual(Buffer.from(given, 'latin1'), Buffer.from(expected, 'latin1'));
}

/** Origin, or else Referer, names the host the request was sent to. Neither: refused. */
function sameOrigin(environ: AppRequest['environ']): boolean {
  const host = environ.HTTP_HOST;
  if (host === undefined || host === '') return false;
  const from = environ.HTTP_ORIGIN ?? environ.HTTP_REFERER;
  if (from === undefined || from === '' || from === 'null') return false;
  try {
    return new URL(from).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}

function wantsJson(request: AppRequest): boolean {
  const { environ } = request;
  if (/(^|&)format=json(&|$)/.test(environ.QUERY_STRING ?? '')) return true;
  return /\bapplication\/json\b/i.test(environ.HTTP_ACCEPT ?? '');
}

function notFound(request: AppRequest): Page {
  const error = new WsgikitError('WSGIKIT_APP_NOT_FOUND', 'No app at this address.');
  return errorPage(error, { owner: false, format: pageFormat(request.environ.HTTP_ACCEPT) });
}

function refused(format: 'html' | 'json', why: string): Page {
  return messagePage(403, 'Restart refused', [why], format);
}

// --- the body -----------------------------------------------------------------------------------------

/** An url-encoded form of at most MAX_FORM_BYTES; null when it is larger or not a form. */
async function readForm(request: AppRequest): Promise<URLSearchParams | null> {
  const { body, contentLength } = request;
  const type = (request.environ.CONTENT_TYPE ?? '').split(';')[0]!.trim().toLowerCase();
  if (body === null) return type === '' || type === 'application/x-www-form-urlencoded' ? new URLSearchParams() : null;
  if (type !== 'application/x-www-form-urlencoded' || (contentLength !== null && contentLength > MAX_FORM_BYTES)) {
    drain(request);
    return null;
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Read to the end even past the limit: the connection may carry the next request.
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
    });
    body.once('end', () =>
      resolve(size > MAX_FORM_BYTES ? null : new URLSearchParams(Buffer.concat(chunks).toString('latin1'))),
    );
    body.once('error', () => resolve(null));
  });
}

/** A body nobody reads is still consumed, so the connection can carry the next request. */
function drain(request: AppRequest): void {
  request.body?.resume();
}

function settle(request: AppRequest, page: Page): Promise<Page> {
  drain(request);
  return Promise.resolve(page);
}

const REASONS: Record<number, string> = {
  200: 'OK',
  303: 'See Other',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
};
