import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { AppRequest } from '../../src/exchange.js';
import type { Page } from '../../src/pages/error-page.js';
import { statusRoute } from '../../src/status/status-route.js';
import { PoolMetrics } from '../../src/pool/pool-metrics.js';
import type { Pool, PoolSnapshot } from '../../src/pool/pool.js';

const TOKEN = '0123456789abcdef0123456789abcdef';
const TOKEN_SHA = createHash('sha256').update(TOKEN).digest('hex');

function fakePool(): Pool & { reload: ReturnType<typeof vi.fn> } {
  const snap: PoolSnapshot = {
    app: '/srv/app.wsgi',
    python: '/usr/bin/python3',
    generation: 1,
    queued: 0,
    served: 0,
    failure: null,
    workers: [],
    limits: { processes: 2, queueSize: 10 },
    metrics: new PoolMetrics().snapshot(),
  };
  return { snapshot: () => snap, reload: vi.fn() } as unknown as Pool & { reload: ReturnType<typeof vi.fn> };
}

function req(path: string, extra: Record<string, string> = {}, owner = true, body?: string): AppRequest {
  return {
    environ: {
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: path,
      QUERY_STRING: '',
      HTTP_HOST: 'example.test',
      ...extra,
    },
    owner,
    body: body === undefined ? null : Readable.from([Buffer.from(body)]),
    contentLength: body === undefined ? null : Buffer.byteLength(body),
  };
}

async function route(
  request: AppRequest,
  pool: Pool | null = fakePool(),
  sha: string | null = TOKEN_SHA,
): Promise<Page> {
  const answer = statusRoute(request, pool, sha);
  expect(answer).not.toBeNull();
  return answer!;
}

function header(page: Page, name: string): string | undefined {
  return page.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

async function tokenOf(pool: Pool): Promise<string> {
  const page = await route(req('/.wsgikit/status', { QUERY_STRING: 'format=json' }), pool);
  return JSON.parse(page.body.toString('utf8')).restart.token;
}

const POST = { REQUEST_METHOD: 'POST', CONTENT_TYPE: 'application/x-www-form-urlencoded' };

describe("which URLs are wsgikit's", () => {
  it('leaves every other path to the app', () => {
    for (const path of ['/', '/status', '/.wsgikit', '/.wsgikit/', '/.wsgikit/other', '/x/.wsgikit/status']) {
      expect(statusRoute(req(path), fakePool(), TOKEN_SHA)).toBeNull();
    }
    const noPath = req('/');
    delete noPath.environ.PATH_INFO;
    expect(statusRoute(noPath, fakePool(), TOKEN_SHA)).toBeNull();
  });
});

describe('the status URL', () => {
  it('shows HTML to the owner, JSON on ?format=json or Accept: application/json', async () => {
    const html = await route(req('/.wsgikit/status', { HTTP_ACCEPT: 'text/html' }));
    expect(html.status).toBe(200);
    expect(header(html, 'Content-Type')).toMatch(/^text\/html/);
    const json = await route(req('/.wsgikit/status', { HTTP_ACCEPT: 'application/json' }));
    expect(header(json, 'Content-Type')).toMatch(/^application\/json/);
    expect(JSON.parse(json.body.toString('utf8')).app).toBe('/srv/app.wsgi');
  });

  it('gives a stranger the plain 404 of a missing app, whatever the URL and method', async () => {
    for (const path of ['/.wsgikit/status', '/.wsgikit/restart']) {
      for (const method of ['GET', 'POST']) {
        const page = await route(req(path, { REQUEST_METHOD: method, HTTP_ACCEPT: 'text/html' }, false));
        expect(page.status).toBe(404);
        const body = page.body.toString('utf8');
        expect(body).toContain('There is no application at this address.');
        expect(body).not.toMatch(/wsgikit|status|restart/i);
      }
    }
  });

  it('says there is no pool in a one-shot CGI request', async () => {
    const page = await route(req('/.wsgikit/status', { HTTP_ACCEPT: 'text/html' }), null);
    expect(page.status).toBe(200);
    expect(page.body.toString('utf8')).toContain('one-shot CGI process');
  });
});

describe('the restart URL', () => {
  it("reloads the pool on a same-origin POST with the page's token, then goes back to the status page", async () => {
    const pool = fakePool();
    const token = await tokenOf(pool);
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(await tokenOf(pool)).toBe(token); // one per pool
    expect(await tokenOf(fakePool())).not.toBe(token);
    const page = await route(
      req('/.wsgikit/restart', { ...POST, HTTP_ORIGIN: 'https://example.test' }, true, `token=${token}`),
      pool,
    );
    expect(page.status).toBe(303);
    expect(header(page, 'Location')).toBe('/app.wsgi/.wsgikit/status?restarted=1');
    expect(pool.reload).toHaveBeenCalledTimes(1);
  });

  it('accepts a Referer from the same host when there is no Origin', async () => {
    const pool = fakePool();
    const token = await tokenOf(pool);
    const page = await route(
      req(
        '/.wsgikit/restart',
        { ...POST, HTTP_REFERER: 'http://example.test/app.wsgi/.wsgikit/status' },
        true,
        `token=${token}`,
      ),
      pool,
    );
    expect(page.status).toBe(303);
  });

  it('refuses (403) without the token, with a wrong one, cross-origin, or with neither Origin nor Referer', async () => {
    const pool = fakePool();
    const token = await tokenOf(pool);
    const cases: Array<[Record<string, string>, string | undefined]> = [
      [{ ...POST, HTTP_ORIGIN: 'http://example.test' }, undefined],
      [{ ...POST, HTTP_ORIGIN: 'http://example.test' }, 'token='],
      [{ ...POST, HTTP_ORIGIN: 'http://example.test' }, `token=${token.replace(/.$/, 'x')}`],
      [{ ...POST, HTTP_ORIGIN: 'http://evil.test' }, `token=${token}`],
      [{ ...POST, HTTP_ORIGIN: 'null' }, `token=${token}`],
      [{ ...POST, HTTP_REFERER: 'http://example.test.evil.test/' }, `token=${token}`],
      [{ ...POST }, `token=${token}`],
      [{ ...POST, HTTP_ORIGIN: 'http://example.test', CONTENT_TYPE: 'text/plain' }, `token=${token}`],
      [{ ...POST, HTTP_ORIGIN: 'http://example.test' }, `token=${token}&pad=${'x'.repeat(5000)}`],
    ];
    for (const [env, body] of cases) {
      const page = await route(req('/.wsgikit/restart', env, true, body), pool);
      expect(page.status, JSON.stringify(env) + body).toBe(403);
    }
    expect(pool.reload).not.toHaveBeenCalled();
  });

  it('refuses GET with 405 and Allow: POST', async () => {
    const page = await route(req('/.wsgikit/restart'));
    expect(page.status).toBe(405);
    expect(header(page, 'Allow')).toBe('POST');
  });
});

describe('the login URL', () => {
  it('sets the owner cookie for the right token and moves on to the status page', async () => {
    const page = await route(req('/.wsgikit/login', { QUERY_STRING: `token=${TOKEN}` }, false));
    expect(page.status).toBe(200);
    const cookie = header(page, 'Set-Cookie')!;
    expect(cookie).toBe(`wsgikit_owner=${TOKEN}; Path=/app.wsgi; Max-Age=31536000; HttpOnly; SameSite=Strict`);
    expect(page.body.toString('utf8')).toContain(
      '<meta http-equiv="refresh" content="0; url=/app.wsgi/.wsgikit/status">',
    );
    expect(header(page, 'Referrer-Policy')).toBe('no-referrer');
  });

  it('marks the cookie Secure under HTTPS, and uses Path=/ when the app is at the root', async () => {
    const page = await route(
      req('/.wsgikit/login', { QUERY_STRING: `token=${TOKEN}`, HTTPS: 'on', SCRIPT_NAME: '' }, false),
    );
    expect(header(page, 'Set-Cookie')).toBe(
      `wsgikit_owner=${TOKEN}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Strict; Secure`,
    );
  });

  it('gives the 404 for a wrong, missing or odd token, or when no token is configured', async () => {
    for (const query of ['token=ffffffffffffffffffffffffffffffff', '', 'token=', `token=${TOKEN};x`]) {
      const page = await route(req('/.wsgikit/login', { QUERY_STRING: query }, false));
      expect(page.status, query).toBe(404);
      expect(header(page, 'Set-Cookie')).toBeUndefined();
    }
    const none = await route(req('/.wsgikit/login', { QUERY_STRING: `token=${TOKEN}` }, true), fakePool(), null);
    expect(none.status).toBe(404);
  });
});
