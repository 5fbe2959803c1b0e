// wsgikit's own error pages: what a request gets when wsgikit, not the app, has to answer it.
// A visitor sees what happened in plain words and an incident id to pass on, and nothing else:
// messages and tracebacks name files, folders, settings and versions. The site owner (or anyone
// under wsgi-run) also sees the message, code, log location and traceback, so the page itself is
// enough to fix the problem.

import { Buffer } from 'node:buffer';
import type { WsgikitError } from '../errors.js';
import { escapeHtml, withoutControls } from './escape.js';
import { pageFormat, type PageFormat } from './format.js';
import { INCIDENT_SENTENCE, visitorSentence } from './wording.js';
import { documentHead } from './document-head.js';
import type { HostPages } from './host-pages.js';

export { pageFormat, type PageFormat };

export interface Page {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface PageView {
  /** The site owner sees details; strangers never do. */
  owner: boolean;
  /** Shown to the owner only, as where to find the incident. */
  logFile?: string;
  /** The log is kept in the web server's error log for now (`logFile` is where it will be). */
  logInServerLog?: boolean;
  /** Shown to the owner only: what to fix about the setup (src/app/user-space.ts), each with its fix. */
  setupNotes?: readonly string[];
  /** Shown to everyone in the title and footer. */
  siteName?: string;
  /** `html` unless told otherwise; choose with `pageFormat(accept)`. */
  format?: PageFormat;
  /** The body limit, so that a 413 tells everyone how much is accepted. */
  maxBodyBytes?: number;
  /** The host's templates (host.toml error_pages): used for strangers' HTML pages. */
  hostPages?: HostPages | undefined;
}

/** What a 503 asks clients to wait before trying again, in seconds. */
export const RETRY_AFTER_SECONDS = 5;

export function errorPage(error: WsgikitError, view: PageView): Page {
  const format = view.format ?? 'html';
  // Strangers get the host's page when it has a usable one; the owner keeps the details.
  const hostBody =
    format === 'html' && !view.owner && view.hostPages
      ? view.hostPages.render({
          status: error.status,
          title: error.title,
          incident: error.incident,
          site: view.siteName,
        })
      : null;
  const body = hostBody ?? Buffer.from(format === 'html' ? renderHtml(error, view) : renderText(error, view), 'utf8');
  const headers: Array<[string, string]> = [
    ['Content-Type', format === 'html' ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8'],
    ['Content-Length', String(body.length)],
    ['Cache-Control', 'no-store'],
    ['X-Content-Type-Options', 'nosniff'],
  ];
  // The built-in page needs its inline style and nothing else; this holds even if escaping were
  // wrong. A host's page may load the host's own styles and images.
  if (hostBody === null) headers.push(['Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'"]);
  if (error.status === 503) headers.push(['Retry-After', String(RETRY_AFTER_SECONDS)]);
  return { status: error.status, headers, body };
}

/** What a request that failed before any of its answer was sent gets, whatever carries it. */
export interface FailurePage {
  status: number;
  /** The status and the error's title ("404 Application not found"), for a CGI Status header. */
  statusLine: string;
  headers: Array<[string, string]>;
  /** Null for a HEAD request: its head still tells the page's length. */
  body: Buffer | null;
}

/**
 * The error page for a failed request, in the format its Accept header asks for (`accept`), with
 * no body when its method is HEAD. What happens when the head is out already is the sink's own.
 */
export function failurePage(
  error: WsgikitError,
  view: PageView,
  accept: string | undefined,
  method: string | undefined,
): FailurePage {
  const page = errorPage(error, { ...view, format: pageFormat(accept) });
  return {
    status: page.status,
    statusLine: `${page.status} ${error.title}`,
    headers: page.headers,
    body: method === 'HEAD' ? null : page.body,
  };
}

/** The sentences every viewer gets. */
function visitorText(error: WsgikitError, view: PageView): string {
  const sentence = visitorSentence(error.code, view.maxBodyBytes);
  return error.incident === undefined ? sentence : `${sentence} ${INCIDENT_SENTENCE}`;
}

function heading(error: WsgikitError, view: PageView): string {
  const title = `${error.status} ${error.title}`;
  return view.siteName === undefined || view.siteName === '' ? title : `${title} · ${view.siteName}`;
}

function renderHtml(error: WsgikitError, view: PageView): string {
  const parts = [
    ...documentHead(heading(error, view), STYLE),
    '<body>',
    '<main>',
    `<h1>${escapeHtml(error.title)}</h1>`,
    `<p>${escapeHtml(visitorText(error, view))}</p>`,
  ];
  if (error.incident !== undefined) {
    parts.push(`<p class="incident">Incident <code>${escapeHtml(error.incident)}</code></p>`);
  }
  if (view.owner) {
    parts.push(
      '<section class="owner">',
      '<h2>For the site owner</h2>',
      `<p class="message">${escapeHtml(error.message)}</p>`,
      '<dl>',
      `<dt>Code</dt><dd><code>${escapeHtml(error.code)}</code></dd>`,
    );
    if (error.incident !== undefined) {
      parts.push(`<dt>Incident</dt><dd><code>${escapeHtml(error.incident)}</code></dd>`);
    }
    const search = error.incident === undefined ? '' : ', search it for the incident id';
    if (view.logInServerLog) {
      parts.push(`<dt>Log</dt><dd>Details are in the web server's error log${search}.</dd>`);
    } else if (view.logFile !== undefined) {
      parts.push(`<dt>Log</dt><dd>Details are in <code>${escapeHtml(view.logFile)}</code>${search}.</dd>`);
    }
    parts.push('</dl>');
    for (const note of view.setupNotes ?? []) parts.push(`<p class="setup">${escapeHtml(note)}</p>`);
    if (error.ownerDetail !== undefined && error.ownerDetail !== '') {
      parts.push(`<pre>${escapeHtml(error.ownerDetail)}</pre>`);
    }
    parts.push('</section>');
  }
  parts.push('</main>');
  if (view.siteName !== undefined && view.siteName !== '') {
    parts.push(`<footer>${escapeHtml(view.siteName)}</footer>`);
  }
  parts.push('</body>', '</html>', '');
  return parts.join('\n');
}

function renderText(error: WsgikitError, view: PageView): string {
  const lines = [heading(error, view), '', visitorText(error, view)];
  if (error.incident !== undefined) lines.push('', `Incident: ${error.incident}`);
  if (view.owner) {
    lines.push('', '-- For the site owner --', '', error.message, '', `Code: ${error.code}`);
    if (view.logInServerLog) lines.push("Log: the web server's error log");
    else if (view.logFile !== undefined) lines.push(`Log: ${view.logFile}`);
    for (const note of view.setupNotes ?? []) lines.push('', note);
    if (error.ownerDetail !== undefined && error.ownerDetail !== '') lines.push('', error.ownerDetail.trimEnd());
  }
  return withoutControls(lines.join('\n')) + '\n';
}

// Readable on a phone and in dark mode, no fonts or images to fetch.
export const STYLE = [
  ':root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.5}',
  'body{margin:0;padding:2rem 1rem}',
  'main{max-width:46rem;margin:0 auto}',
  'h1{font-size:1.6rem;margin:0 0 1rem}',
  'h2{font-size:1.1rem;margin:0 0 .5rem}',
  'code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}',
  '.incident code{font-size:1.1em;font-weight:600;letter-spacing:.05em}',
  '.owner{margin-top:2rem;padding:1rem;border:1px solid #c8a400;border-radius:6px}',
  '.message{font-weight:600}',
  '.setup{padding:.5rem .75rem;border:1px solid #c8a400;border-radius:6px}',
  'dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}',
  'dd{margin:0;overflow-wrap:anywhere}',
  'pre{padding:.75rem;overflow-x:auto;background:rgba(127,127,127,.12);border-radius:4px;white-space:pre}',
  'footer{max-width:46rem;margin:2rem auto 0;color:GrayText;font-size:.9rem}',
].join('');
