// The host's error page templates (src/pages/host-pages.ts): placeholders and escaping, the
// fallback to the built-in page with one warning per broken template, the cache and its mtime
// check, the size cap, and override_app_errors as the Job applies it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import type { AppRequest, ResponseSink } from '../../src/exchange.js';
import type { OpsLog } from '../../src/ops-log.js';
import { errorPage, type Page } from '../../src/pages/error-page.js';
import {
  HostPages,
  MAX_TEMPLATE_BYTES,
  hostPagesFor,
  parseTemplate,
  replaceAppError,
} from '../../src/pages/host-pages.js';
import { Job } from '../../src/pool/job.js';
import { emptyHostSettings } from '../../src/app/settings.js';

const roots: string[] = [];
afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});

function folder(files: Record<string, string | Buffer>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-host-pages-'));
  roots.push(dir);
  for (const [name, text] of Object.entries(files)) write(dir, name, text);
  return dir;
}

function write(dir: string, name: string, text: string | Buffer): void {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  fs.chmodSync(file, 0o644);
}

interface Recorded {
  ops: OpsLog;
  warnings: Array<{ fields: object; message: string }>;
}

function recorder(): Recorded {
  const warnings: Recorded['warnings'] = [];
  return {
    warnings,
    ops: { info() {}, error() {}, warn: (fields, message) => warnings.push({ fields, message }) },
  };
}

let clock = 0;
beforeEach(() => {
  clock = 1_000_000;
});

function pages(dir: string, log: Recorded, overrideAppErrors = false): HostPages {
  return new HostPages({ folder: dir, overrideAppErrors, ops: log.ops, now: () => clock });
}

function header(page: { headers: Array<[string, string]> }, name: string): string | undefined {
  return page.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

const DEFAULT = '<p>{{status}} {{title}} on {{site}}; incident {{incident}}</p>';

describe('templates', () => {
  it('fill every placeholder, HTML-escaped; spaces inside the braces are allowed', () => {
    const log = recorder();
    const host = pages(folder({ 'default.html': DEFAULT, '404.html': '<h1>{{ status }}</h1>{{site}}' }), log);
    expect(host.render({ status: 500, title: 'A & B', incident: 'K7Q2', site: '<x>"' })?.toString()).toBe(
      '<p>500 A &amp; B on &lt;x&gt;&quot;; incident K7Q2</p>',
    );
    expect(host.render({ status: 404, title: 'Not Found', site: 'example.org' })?.toString()).toBe(
      '<h1>404</h1>example.org',
    );
    // No incident, no site: empty.
    expect(host.render({ status: 503, title: 'Busy' })?.toString()).toBe('<p>503 Busy on ; incident </p>');
    expect(log.warnings).toEqual([]);
  });

  it('a status without its own file and no default.html: null, with one warning', () => {
    const log = recorder();
    const host = pages(folder({ '404.html': 'x' }), log);
    expect(host.render({ status: 404, title: 'Not Found' })?.toString()).toBe('x');
    expect(host.render({ status: 500, title: 'Error' })).toBeNull();
    expect(host.render({ status: 502, title: 'Error' })).toBeNull();
    expect(log.warnings).toHaveLength(1);
    expect(JSON.stringify(log.warnings[0])).toContain('default.html');
  });

  it('an unknown placeholder makes the template broken: null and one warning, not one per request', () => {
    const log = recorder();
    const dir = folder({ 'default.html': DEFAULT, '502.html': 'a\nb {{oops}}' });
    const host = pages(dir, log);
    for (let i = 0; i < 5; i++) {
      expect(host.render({ status: 502, title: 'Bad gateway' })).toBeNull();
      clock += 2000;
    }
    expect(log.warnings).toHaveLength(1);
    const fields = log.warnings[0]!.fields as { template: string; reason: string };
    expect(fields.template).toBe(path.join(dir, '502.html'));
    expect(fields.reason).toContain('line 2: unknown placeholder {{oops}}');
    expect(log.warnings[0]!.message).toContain('built-in page');
    // Not a fallback to default.html: the broken file says what the host meant for 502.
    expect(host.render({ status: 500, title: 'x' })).not.toBeNull();
  });

  it('an unclosed {{ is broken too', () => {
    expect(parseTemplate('<p>{{status</p>')).toMatchObject({ ok: false });
    expect(parseTemplate('{ {status} } {{status}}')).toMatchObject({ ok: true });
  });

  it('a file over 256 KiB is refused', () => {
    const log = recorder();
    const big = 'x'.repeat(MAX_TEMPLATE_BYTES + 1);
    const host = pages(folder({ 'default.html': big, '404.html': 'x'.repeat(MAX_TEMPLATE_BYTES) }), log);
    expect(host.render({ status: 500, title: 'x' })).toBeNull();
    expect(host.render({ status: 404, title: 'x' })?.length).toBe(MAX_TEMPLATE_BYTES);
    expect(log.warnings).toHaveLength(1);
    expect(JSON.stringify(log.warnings[0]!.fields)).toContain('limit');
  });

  it('a template others may write is refused', () => {
    const log = recorder();
    const dir = folder({ 'default.html': DEFAULT });
    fs.chmodSync(path.join(dir, 'default.html'), 0o666);
    expect(pages(dir, log).render({ status: 500, title: 'x' })).toBeNull();
    expect(JSON.stringify(log.warnings)).toContain('writable by group or others');
  });

  it('is read once, and read again when its mtime changes, checked at most once a second', () => {
    const log = recorder();
    const dir = folder({ 'default.html': 'one {{status}}' });
    const file = path.join(dir, 'default.html');
    const host = pages(dir, log);
    expect(host.render({ status: 500, title: 'x' })?.toString()).toBe('one 500');

    write(dir, 'default.html', 'two {{status}}');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    clock += 500; // within the second: the cached one
    expect(host.render({ status: 500, title: 'x' })?.toString()).toBe('one 500');
    clock += 600;
    expect(host.render({ status: 500, title: 'x' })?.toString()).toBe('two 500');

    // Broken, then fixed, then broken again: one warning per broken version.
    write(dir, 'default.html', '{{nope}}');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 10_000));
    clock += 1000;
    expect(host.render({ status: 500, title: 'x' })).toBeNull();
    expect(host.render({ status: 500, title: 'x' })).toBeNull();
    expect(log.warnings).toHaveLength(1);
    write(dir, 'default.html', 'three');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 15_000));
    clock += 1000;
    expect(host.render({ status: 500, title: 'x' })?.toString()).toBe('three');
  });

  it('a folder that does not exist: null, never an exception', () => {
    const log = recorder();
    const host = pages('/nonexistent/wsgikit-error-pages', log);
    expect(host.render({ status: 500, title: 'x' })).toBeNull();
    expect(log.warnings).toHaveLength(1);
  });

  it('hostPagesFor: none without error_pages; the same object while the settings stay', () => {
    const log = recorder();
    const host = emptyHostSettings();
    expect(hostPagesFor(host, log.ops)).toBeNull();
    host.errorPages = '/srv/pages';
    const first = hostPagesFor(host, log.ops);
    expect(first?.folder).toBe('/srv/pages');
    expect(hostPagesFor(host, log.ops, first)).toBe(first);
    host.overrideAppErrors = true;
    expect(hostPagesFor(host, log.ops, first)).not.toBe(first);
  });
});

describe('errorPage with host pages', () => {
  const error = (): WsgikitError =>
    new WsgikitError('WSGIKIT_APP_EXCEPTION', 'boom at /home/ann/app.wsgi', {
      incident: 'AB12-CD34',
      ownerDetail: 'Traceback: secret',
    });

  it('strangers get the host page, with its own headers and no CSP', () => {
    const host = pages(folder({ 'default.html': DEFAULT }), recorder());
    const page: Page = errorPage(error(), { owner: false, hostPages: host, siteName: 'shop.example' });
    expect(page.status).toBe(500);
    expect(page.body.toString()).toBe('<p>500 Application error on shop.example; incident AB12-CD34</p>');
    expect(header(page, 'content-type')).toBe('text/html; charset=utf-8');
    expect(header(page, 'content-length')).toBe(String(page.body.length));
    expect(header(page, 'content-security-policy')).toBeUndefined();
  });

  it('503 keeps its Retry-After', () => {
    const host = pages(folder({ 'default.html': DEFAULT }), recorder());
    const page = errorPage(new WsgikitError('WSGIKIT_OVERLOADED', 'busy'), { owner: false, hostPages: host });
    expect(page.body.toString()).toContain('503 Too many requests');
    expect(header(page, 'retry-after')).toBe('5');
  });

  it('the owner keeps the built-in page with the traceback; text clients get the text page', () => {
    const host = pages(folder({ 'default.html': DEFAULT }), recorder());
    const owner = errorPage(error(), { owner: true, hostPages: host });
    expect(owner.body.toString()).toContain('Traceback: secret');
    expect(header(owner, 'content-security-policy')).toBeDefined();
    const text = errorPage(error(), { owner: false, hostPages: host, format: 'text' });
    expect(text.body.toString()).toContain('Application error');
    expect(text.body.toString()).not.toContain('<p>');
  });

  it('a broken template: the built-in page', () => {
    const log = recorder();
    const host = pages(folder({ 'default.html': '{{bad}}' }), log);
    const page = errorPage(error(), { owner: false, hostPages: host });
    expect(page.body.toString()).toContain('<!doctype html>');
    expect(page.body.toString()).toContain('AB12-CD34');
    expect(page.body.toString()).not.toContain('secret');
    expect(log.warnings).toHaveLength(1);
  });
});

describe('override_app_errors', () => {
  function request(hostPages: HostPages | undefined, owner = false, method = 'GET'): AppRequest {
    return {
      environ: { REQUEST_METHOD: method, SERVER_NAME: 'shop.example', PATH_INFO: '/x' },
      body: null,
      contentLength: null,
      owner,
      hostPages,
    };
  }

  const APP_HEADERS: Array<[string, string]> = [
    ['Content-Type', 'application/json'],
    ['Content-Length', '13'],
    ['Retry-After', '120'],
    ['X-Custom', 'kept'],
    ['Content-Encoding', 'gzip'],
    ['Transfer-Encoding', 'chunked'],
    ['Set-Cookie', 'a=b'],
  ];

  it('replaces the body and the headers describing it; keeps the status and the rest', () => {
    const host = pages(folder({ '404.html': '<h1>{{status}} {{title}} · {{site}}</h1>' }), recorder(), true);
    const out = replaceAppError(request(host), '404 Gone Fishing', APP_HEADERS);
    expect(out?.body.toString()).toBe('<h1>404 Not Found · shop.example</h1>');
    expect(out?.headers).toEqual([
      ['Retry-After', '120'],
      ['X-Custom', 'kept'],
      ['Set-Cookie', 'a=b'],
      ['Content-Type', 'text/html; charset=utf-8'],
      ['Content-Length', String(out!.body.length)],
    ]);
  });

  it('leaves alone: success, the owner, override off, no host pages, no usable template', () => {
    const on = pages(folder({ '404.html': 'x' }), recorder(), true);
    const off = pages(folder({ '404.html': 'x' }), recorder(), false);
    expect(replaceAppError(request(on), '200 OK', APP_HEADERS)).toBeNull();
    expect(replaceAppError(request(on), '302 Found', APP_HEADERS)).toBeNull();
    expect(replaceAppError(request(on, true), '404 Not Found', APP_HEADERS)).toBeNull();
    expect(replaceAppError(request(off), '404 Not Found', APP_HEADERS)).toBeNull();
    expect(replaceAppError(request(undefined), '404 Not Found', APP_HEADERS)).toBeNull();
    expect(replaceAppError(request(on), '500 Internal Server Error', APP_HEADERS)).toBeNull(); // no 500.html/default
    expect(replaceAppError(request(on), '404 Not Found', APP_HEADERS)).not.toBeNull();
  });

  class FakeSink implements ResponseSink {
    head: { status: string; headers: Array<[string, string]> } | null = null;
    chunks: Buffer[] = [];
    ended = 0;
    get started(): boolean {
      return this.head !== null;
    }
    start(status: string, headers: Array<[string, string]>): void {
      this.head = { status, headers };
    }
    write(chunk: Buffer): boolean {
      this.chunks.push(chunk);
      return true;
    }
    onDrain(): void {}
    end(): void {
      this.ended++;
    }
    fail(): void {
      throw new Error('not expected');
    }
    onClose(): void {}
  }

  it('in the Job: the host page is the whole answer; the app body that follows is dropped', () => {
    const host = pages(folder({ '404.html': 'host 404' }), recorder(), true);
    const sink = new FakeSink();
    const job = new Job(request(host), sink, Date.now());
    job.start('404 Not Found', APP_HEADERS);
    expect(job.finished).toBe(true);
    expect(job.write(Buffer.from('{"app":"404"}'))).toBe(true);
    job.end();
    expect(sink.head?.status).toBe('404 Not Found');
    expect(header(sink.head!, 'retry-after')).toBe('120');
    expect(header(sink.head!, 'content-length')).toBe('8');
    expect(Buffer.concat(sink.chunks).toString()).toBe('host 404');
    expect(sink.ended).toBe(1);
  });

  it('in the Job: HEAD gets the head only; the owner gets the app body', () => {
    const host = pages(folder({ '404.html': 'host 404' }), recorder(), true);
    const head = new FakeSink();
    new Job(request(host, false, 'HEAD'), head, Date.now()).start('404 Not Found', APP_HEADERS);
    expect(head.chunks).toEqual([]);
    expect(head.ended).toBe(1);
    expect(header(head.head!, 'content-length')).toBe('8');

    const owner = new FakeSink();
    const job = new Job(request(host, true), owner, Date.now());
    job.start('404 Not Found', APP_HEADERS);
    job.write(Buffer.from('{"app":"404"}'));
    expect(Buffer.concat(owner.chunks).toString()).toBe('{"app":"404"}');
    expect(owner.head?.headers).toEqual(APP_HEADERS);
  });
});

describe('host.toml keys', () => {
  function hostFile(text: string): string {
    const dir = folder({});
    const file = path.join(dir, 'host.toml');
    fs.writeFileSync(file, text);
    fs.chmodSync(file, 0o644);
    return file;
  }

  it('error_pages (an absolute folder) and override_app_errors (a boolean)', async () => {
    const { loadHostSettings } = await import('../../src/app/settings.js');
    expect(loadHostSettings(hostFile('error_pages = "/srv/pages/"\noverride_app_errors = true\n'))).toMatchObject({
      errorPages: '/srv/pages',
      overrideAppErrors: true,
    });
    expect(loadHostSettings(hostFile(''))).toMatchObject({ errorPages: null, overrideAppErrors: false });
    expect(() => loadHostSettings(hostFile('error_pages = "pages"\n'))).toThrow(
      /error_pages: expected an absolute path/,
    );
    expect(() => loadHostSettings(hostFile('override_app_errors = "yes"\n'))).toThrow(
      /override_app_errors: expected true or false/,
    );
  });
});
