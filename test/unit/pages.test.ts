import { describe, expect, it } from 'vitest';
import { ERRORS, WsgikitError, type ErrorCode } from '../../src/errors.js';
import { errorPage, failurePage, pageFormat, type Page } from '../../src/pages/error-page.js';

const TRACEBACK = [
  'Traceback (most recent call last):',
  '  File "/home/ann/public_html/app.wsgi", line 4, in application',
  '    raise ValueError("<script>alert(1)</script>")',
  'ValueError: <script>alert(1)</script> & "quotes"',
].join('\n');

function failure(code: ErrorCode = 'WSGIKIT_APP_EXCEPTION', incident: string | null = 'K7Q2-M9XD-4T'): WsgikitError {
  return new WsgikitError(
    code,
    'The app at /home/ann/public_html/app.wsgi raised <b>ValueError</b> under Python 3.11.2',
    {
      ownerDetail: TRACEBACK,
      incident: incident ?? undefined,
    },
  );
}

function header(page: Page, name: string): string | undefined {
  return page.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

const LOG = '/home/ann/.wsgikit/logs/public_html_app-1a2b3c4d.log';

describe('the stranger view', () => {
  for (const format of ['html', 'text'] as const) {
    it(`shows the title, a plain sentence and the incident id, and nothing else (${format})`, () => {
      const page = errorPage(failure(), { owner: false, logFile: LOG, format });
      const body = page.body.toString('utf8');
      expect(body).toContain('Application error');
      expect(body).toContain('The application behind this page failed.');
      expect(body).toContain('The site owner can look this up with the incident id below.');
      expect(body).toContain('K7Q2-M9XD-4T');
      for (const secret of [
        'Traceback',
        'ValueError',
        'script',
        '/home',
        'app.wsgi',
        'Python',
        '3.11',
        '.log',
        'WSGIKIT_',
      ]) {
        expect(body).not.toContain(secret);
      }
      expect(body).not.toMatch(/\/[a-z]+\//i);
    });
  }

  it('leaves out the incident sentence when there is no incident', () => {
    const body = errorPage(failure('WSGIKIT_APP_NOT_FOUND', null), { owner: false }).body.toString();
    expect(body).toContain('There is no application at this address.');
    expect(body).not.toContain('incident id');
    expect(body).not.toContain('Incident');
  });

  it('has no script and no external resource', () => {
    const body = errorPage(failure(), { owner: true, logFile: LOG }).body.toString();
    expect(body).not.toMatch(/<script|<link|<img|src=|href=|url\(/i);
    expect(body).toContain('<style>');
  });
});

describe('the owner view', () => {
  it('shows the message, code, incident, log file and the escaped traceback', () => {
    const body = errorPage(failure(), { owner: true, logFile: LOG }).body.toString();
    expect(body).toContain('raised &lt;b&gt;ValueError&lt;/b&gt; under Python 3.11.2');
    expect(body).toContain('<code>WSGIKIT_APP_EXCEPTION</code>');
    expect(body).toContain('K7Q2-M9XD-4T');
    expect(body).toContain(`Details are in <code>${LOG}</code>, search it for the incident id.`);
    expect(body).toContain(
      '<pre>Traceback (most recent call last):\n  File &quot;/home/ann/public_html/app.wsgi&quot;, line 4',
    );
    expect(body).toContain('ValueError: &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;</pre>');
    expect(body).not.toContain('<script>');
    expect(body).not.toContain('<b>');
  });

  it('escapes every dynamic string, the site name, log path and incident included', () => {
    const error = new WsgikitError('WSGIKIT_APP_EXCEPTION', 'm', { incident: '<i>x</i>', ownerDetail: '\x1b[31mred' });
    const body = errorPage(error, { owner: true, logFile: '/tmp/<log>', siteName: '"><svg onload=1>' }).body.toString();
    // eslint-disable-next-line no-control-regex
    expect(body).not.toMatch(/<i>|<log>|<svg|\x1b/);
    expect(body).toContain('&lt;i&gt;x&lt;/i&gt;');
    expect(body).toContain('&quot;&gt;&lt;svg onload=1&gt;');
  });

  it('says when the log is in the server error log, with the setup notes; strangers see neither', () => {
    const notes = ['Fix: sudo install -d -o www-data -g www-data -m 700 /var/www/.wsgikit', '<b>x</b>'];
    const view = { logFile: LOG, logInServerLog: true, setupNotes: notes };
    const html = errorPage(failure(), { owner: true, ...view }).body.toString();
    expect(html).toContain("Details are in the web server's error log, search it for the incident id.");
    expect(html).not.toContain(LOG);
    expect(html).toContain(`<p class="setup">${notes[0]}</p>`);
    expect(html).toContain('<p class="setup">&lt;b&gt;x&lt;/b&gt;</p>');
    const text = errorPage(failure(), { owner: true, format: 'text', ...view }).body.toString();
    expect(text).toContain("Log: the web server's error log");
    expect(text).toContain(notes[0]);
    const stranger = errorPage(failure(), { owner: false, ...view }).body.toString();
    expect(stranger).not.toContain('install -d');
    expect(stranger).not.toContain('error log');
  });

  it('gives a text page the same details, without control characters', () => {
    const error = failure();
    error.ownerDetail = TRACEBACK + '\x1b]0;pwned\x07';
    const body = errorPage(error, { owner: true, logFile: LOG, format: 'text' }).body.toString();
    expect(body).toContain(TRACEBACK);
    expect(body).toContain(`Log: ${LOG}`);
    expect(body).toContain('Code: WSGIKIT_APP_EXCEPTION');
    // eslint-disable-next-line no-control-regex
    expect(body).not.toMatch(/[\x1b\x07]/);
  });
});

describe('status and headers', () => {
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    it(`answers ${code} with ${ERRORS[code].status} and safe headers`, () => {
      const page = errorPage(failure(code), { owner: false });
      expect(page.status).toBe(ERRORS[code].status);
      expect(header(page, 'Content-Type')).toBe('text/html; charset=utf-8');
      expect(header(page, 'Cache-Control')).toBe('no-store');
      expect(header(page, 'X-Content-Type-Options')).toBe('nosniff');
      expect(header(page, 'Content-Length')).toBe(String(page.body.length));
      expect(header(page, 'Retry-After')).toBe(page.status === 503 ? '5' : undefined);
      expect(page.body.toString()).toContain(ERRORS[code].title);
    });
  }

  it('counts Content-Length in bytes, not characters', () => {
    const page = errorPage(failure(), { owner: true, siteName: 'café ☕' });
    expect(Number(header(page, 'Content-Length'))).toBe(Buffer.byteLength(page.body.toString()));
    expect(page.body.toString()).toContain('café ☕');
  });

  it('sends text/plain for the text format', () => {
    const page = errorPage(failure(), { owner: false, format: 'text' });
    expect(header(page, 'Content-Type')).toBe('text/plain; charset=utf-8');
    expect(page.body.toString()).toMatch(/^500 Application error\n/);
  });

  it('tells everyone the body limit on a 413', () => {
    const page = errorPage(failure('WSGIKIT_BODY_TOO_LARGE', null), {
      owner: false,
      maxBodyBytes: 10 * 1024 * 1024,
    });
    expect(page.status).toBe(413);
    expect(page.body.toString()).toContain('at most 10 MiB');
    const plain = errorPage(failure('WSGIKIT_BODY_TOO_LARGE', null), { owner: false }).body.toString();
    expect(plain).toContain('larger than this site accepts');
  });

  it('asks clients to retry a 503 later', () => {
    for (const code of ['WSGIKIT_OVERLOADED', 'WSGIKIT_SHUTTING_DOWN'] as const) {
      const page = errorPage(failure(code, null), { owner: false });
      expect(page.status).toBe(503);
      expect(header(page, 'Retry-After')).toBe('5');
      expect(page.body.toString()).toContain('try again in a few seconds');
    }
  });
});

describe('pageFormat', () => {
  it('gives browsers HTML and curl, scripts and text/plain clients text', () => {
    expect(pageFormat(undefined)).toBe('html');
    expect(pageFormat('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe('html');
    expect(pageFormat('*/*')).toBe('text');
    expect(pageFormat('text/plain')).toBe('text');
    expect(pageFormat('text/plain, text/html;q=0.5')).toBe('text');
    expect(pageFormat('text/html;q=0.5, text/plain;q=0.5')).toBe('html');
    expect(pageFormat('text/html;q=0, */*')).toBe('text');
    expect(pageFormat('application/json')).toBe('text');
  });
});

describe('failurePage, what every sink sends for a request that failed before its head', () => {
  it('picks the format from Accept and gives the CGI status line', () => {
    const page = failurePage(failure('WSGIKIT_APP_NOT_FOUND', null), { owner: false }, 'text/plain', 'GET');
    expect(page.status).toBe(404);
    expect(page.statusLine).toBe('404 Application not found');
    expect(page.headers).toContainEqual(['Content-Type', 'text/plain; charset=utf-8']);
    expect(page.body!.toString()).toContain('Application not found');
    const html = failurePage(failure(), { owner: false }, undefined, 'GET');
    expect(html.headers).toContainEqual(['Content-Type', 'text/html; charset=utf-8']);
  });

  it('has no body for HEAD, and the length of the one GET would get', () => {
    const get = failurePage(failure(), { owner: false }, 'text/plain', 'GET');
    const head = failurePage(failure(), { owner: false }, 'text/plain', 'HEAD');
    expect(head.body).toBeNull();
    expect(head.headers).toEqual(get.headers);
    expect(head.headers).toContainEqual(['Content-Length', String(get.body!.length)]);
  });
});
