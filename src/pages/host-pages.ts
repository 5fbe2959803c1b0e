// The host's error pages: a folder of HTML templates (host.toml `error_pages`) that replace
// wsgikit's built-in page for strangers, and with `override_app_errors = true` an app's own 4xx/5xx
// bodies too, so that every site on a host fails in one style. The owner keeps the built-in page
// with its traceback.
//
// Templates: `<status>.html` (404.html, 500.html, …), else `default.html`. Placeholders
// {{status}}, {{title}}, {{incident}} and {{site}} are replaced by HTML-escaped values. A template
// that cannot be used (missing, unreadable, writable by others, over 256 KiB, not UTF-8, or with
// an unknown or unclosed placeholder) never turns an error into a second error: the built-in page
// is served, and the ops log says so once per template (again only after the file changes).
//
// Each file is read once and cached; its mtime is checked at most once a second.

import { Buffer } from 'node:buffer';
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostSettings } from '../app/settings.js';
import type { AppRequest, Environ, HostPageTemplates, PageValues, ResponseHeaders } from '../exchange.js';
import type { OpsLog } from '../ops-log.js';
import { lazyHttp } from '../lazy-builtins.js';
import { escapeHtml } from './escape.js';

/** Templates larger than this are refused (a page, not a download). */
export const MAX_TEMPLATE_BYTES = 256 * 1024;
/** How often a cached template's file is looked at again, in ms. */
export const TEMPLATE_CHECK_MS = 1000;

const PLACEHOLDERS = ['status', 'title', 'incident', 'site'] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];

/** A template split at its placeholders: text, name, text, name, …, text. */
type Parsed = { ok: true; parts: Array<string | { name: Placeholder }> } | { ok: false; reason: string };

interface Cached {
  checkedAt: number;
  /** What the file looked like when read ("missing" when it was not there). */
  signature: string;
  parsed: Parsed | null;
}

export interface HostPagesOptions {
  /** Absolute folder of the templates. */
  folder: string;
  overrideAppErrors: boolean;
  ops: OpsLog;
  /** For tests: the clock. */
  now?: () => number;
}

/** Headers an app's error response keeps when its body is replaced: all but these. */
const REPLACED_HEADERS = new Set(['content-length', 'content-type', 'content-encoding', 'transfer-encoding']);

export class HostPages implements HostPageTemplates {
  readonly folder: string;
  readonly overrideAppErrors: boolean;
  private readonly ops: OpsLog;
  private readonly now: () => number;
  private readonly cache = new Map<string, Cached>();
  /** Template path → the signature already warned about (one warning per broken version). */
  private readonly warned = new Map<string, string>();

  constructor(options: HostPagesOptions) {
    this.folder = options.folder;
    this.overrideAppErrors = options.overrideAppErrors;
    this.ops = options.ops;
    this.now = options.now ?? Date.now;
  }

  /** The host's page for a status, or null: use the built-in page. Never throws. */
  render(values: PageValues): Buffer | null {
    try {
      const own = this.template(`${values.status}.html`);
      if (own !== 'missing') return own === null ? null : fill(own, values);
      const fallback = this.template('default.html', true);
      return fallback === null || fallback === 'missing' ? null : fill(fallback, values);
    } catch (error) {
      this.ops.warn(
        { folder: this.folder, err: (error as Error).message },
        'host error page failed; built-in page used',
      );
      return null;
    }
  }

  /**
   * The parts of a usable template; null when it is broken (warned about once); "missing" when
   * there is no such file and it is optional.
   */
  private template(name: string, required = false): Array<string | { name: Placeholder }> | null | 'missing' {
    const file = join(this.folder, name);
    const now = this.now();
    let cached = this.cache.get(file);
    if (cached === undefined || now - cached.checkedAt >= TEMPLATE_CHECK_MS) {
      const signature = signatureOf(file);
      if (cached === undefined || cached.signature !== signature) {
        cached = { checkedAt: now, signature, parsed: signature === 'missing' ? null : load(file) };
      } else cached.checkedAt = now;
      this.cache.set(file, cached);
    }
    if (cached.parsed === null) {
      if (!required) return 'missing';
      this.warnOnce(file, cached.signature, 'the file does not exist');
      return null;
    }
    if (!cached.parsed.ok) {
      this.warnOnce(file, cached.signature, cached.parsed.reason);
      return null;
    }
    return cached.parsed.parts;
  }

  private warnOnce(file: string, signature: string, reason: string): void {
    if (this.warned.get(file) === signature) return;
    this.warned.set(file, signature);
    this.ops.warn({ template: file, reason }, 'host error page template not used; the built-in page is served instead');
  }
}

/**
 * The host pages the host settings ask for, or null. `previous` is kept when the settings did not
 * change (SIGHUP with the same folder), so its cache and warnings survive.
 */
export function hostPagesFor(host: HostSettings, ops: OpsLog, previous?: HostPages | null): HostPages | null {
  if (host.errorPages === null) return null;
  if (previous && previous.folder === host.errorPages && previous.overrideAppErrors === host.overrideAppErrors) {
    return previous;
  }
  return new HostPages({ folder: host.errorPages, overrideAppErrors: host.overrideAppErrors, ops });
}

/** What a front end adds to its PageView for a request: the host pages and the site's name. */
export function hostView(
  pages: HostPages | null | undefined,
  environ: Environ,
): { hostPages?: HostPages; siteName?: string } {
  if (!pages) return {};
  return { hostPages: pages, siteName: siteOf(environ) };
}

/**
 * override_app_errors: the head and body that replace an app's 4xx/5xx answer, or null to pass it
 * on unchanged (not enabled, not an error, the owner asking, or no usable template). The app's
 * status and headers are kept but those describing its body.
 */
export function replaceAppError(
  request: AppRequest,
  status: string,
  headers: ResponseHeaders,
): { headers: ResponseHeaders; body: Buffer } | null {
  const pages = request.hostPages;
  if (!pages?.overrideAppErrors || request.owner) return null;
  const code = Number(status.slice(0, 3));
  if (!(code >= 400 && code <= 599)) return null;
  const reason = status.slice(4).trim();
  const title = lazyHttp().STATUS_CODES[code] ?? (reason === '' ? 'Error' : reason);
  const body = pages.render({ status: code, title, site: siteOf(request.environ) });
  if (body === null) return null;
  const kept = headers.filter(([name]) => !REPLACED_HEADERS.has(name.toLowerCase()));
  return {
    headers: [...kept, ['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', String(body.length)]],
    body,
  };
}

/** The site's name for {{site}}: the server's name for it (latin-1 byte string → UTF-8). */
function siteOf(environ: Environ): string {
  const name = environ.SERVER_NAME ?? environ.HTTP_HOST ?? '';
  return Buffer.from(name, 'latin1').toString('utf8');
}

function signatureOf(file: string): string {
  try {
    const st = statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    return `error:${code ?? String(error)}`;
  }
}

function load(file: string): Parsed {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    return { ok: false, reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
    // Every site's visitors see it: a template others may write is a way into all of them.
    if ((st.mode & 0o022) !== 0) return { ok: false, reason: `writable by group or others; chmod go-w ${file}` };
    if (st.size > MAX_TEMPLATE_BYTES) {
      return { ok: false, reason: `${st.size} bytes, over the ${MAX_TEMPLATE_BYTES}-byte limit for a template` };
    }
    const bytes = readFileSync(fd);
    if (bytes.length > MAX_TEMPLATE_BYTES) {
      return { ok: false, reason: `over the ${MAX_TEMPLATE_BYTES}-byte limit for a template` };
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return { ok: false, reason: 'not valid UTF-8' };
    }
    return parseTemplate(text);
  } catch (error) {
    return { ok: false, reason: `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
  } finally {
    closeSync(fd);
  }
}

/** Splits a template at its placeholders; an unknown or unclosed one makes it unusable. */
export function parseTemplate(text: string): Parsed {
  const parts: Array<string | { name: Placeholder }> = [];
  let at = 0;
  for (;;) {
    const open = text.indexOf('{{', at);
    if (open === -1) break;
    const close = text.indexOf('}}', open + 2);
    const line = text.slice(0, open).split('\n').length;
    if (close === -1) return { ok: false, reason: `line ${line}: "{{" without a closing "}}"` };
    const name = text.slice(open + 2, close).trim();
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      return {
        ok: false,
        reason: `line ${line}: unknown placeholder {{${name.slice(0, 40)}}}; known: ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(' ')}`,
      };
    }
    parts.push(text.slice(at, open), { name: name as Placeholder });
    at = close + 2;
  }
  parts.push(text.slice(at));
  return { ok: true, parts };
}

function fill(parts: Array<string | { name: Placeholder }>, values: PageValues): Buffer {
  const value = (name: Placeholder): string => {
    switch (name) {
      case 'status':
        return String(values.status);
      case 'title':
        return values.title;
      case 'incident':
        return values.incident ?? '';
      case 'site':
        return values.site ?? '';
    }
  };
  return Buffer.from(
    parts.map((part) => (typeof part === 'string' ? part : escapeHtml(value(part.name)))).join(''),
    'utf8',
  );
}
