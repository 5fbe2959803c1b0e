import { describe, expect, it } from 'vitest';
import type { Page } from '../../src/pages/error-page.js';
import { messagePage, niceMax, statusHtml, statusJson } from '../../src/pages/status-page.js';
import { PoolMetrics } from '../../src/pool/pool-metrics.js';
import type { PoolSnapshot } from '../../src/pool/pool.js';

const EVIL = '<script>alert(1)</script>&"\'';
const NOW = 1_800_000_000_000;

function snapshot(overrides: Partial<PoolSnapshot> = {}): PoolSnapshot {
  const metrics = new PoolMetrics();
  for (let i = 0; i < 40; i++) metrics.requestEnded(5 + i, i % 10 === 0 ? 5 : 2, NOW - 120_000 + i * 3000);
  metrics.restarted(4242, `max_requests ${EVIL}`, NOW - 30_000);
  metrics.restarted(null, 'app.wsgi changed', NOW - 60_000);
  metrics.incident('K7Q2-M9XD-4T', `GET /${EVIL}: the app raised ValueError`, NOW - 10_000);
  return {
    app: `/home/ann/public_html/${EVIL}.wsgi`,
    python: '/usr/bin/python3',
    generation: 3,
    queued: 2,
    served: 40,
    failure: null,
    workers: [
      {
        pid: 4243,
        state: 'busy',
        generation: 3,
        requests: 17,
        rss: 25 * 1048576,
        current: `POST /${EVIL}`,
        currentMs: 1500,
        queued: null,
      },
      { pid: 4244, state: 'idle', generation: 3, requests: 5, rss: null, current: null, currentMs: null, queued: null },
    ],
    limits: { processes: 4, queueSize: 100 },
    metrics: metrics.snapshot(NOW),
    ...overrides,
  };
}

const VIEW = { base: '/app.wsgi', restartToken: 'f00dfeedf00dfeedf00dfeedf00dfeed' };

function header(page: Page, name: string): string | undefined {
  return page.headers.find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
}

describe('the status page (HTML)', () => {
  const page = statusHtml(snapshot(), VIEW);
  const html = page.body.toString('utf8');

  it('escapes everything that came from outside', () => {
    expect(html).not.toContain('<script>');
    expect(html).not.toContain(EVIL);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;');
  });

  it('has the workers table: pid, state, generation, requests, memory, current request and its age', () => {
    expect(html).toContain('<table class="workers">');
    expect(html).toMatch(/<td>4243<\/td><td><span class="state busy">busy<\/span><\/td><td class="num">3<\/td>/);
    expect(html).toContain('<td class="num">17</td>');
    expect(html).toContain('25 MiB');
    expect(html).toContain('<code>POST /&lt;script&gt;');
    expect(html).toContain('1.5 s');
  });

  it('draws both charts as inline SVG, with bars for the requests and lines for latency', () => {
    expect(html.match(/<svg class="chart"/g)).toHaveLength(2);
    expect(html).toContain('<rect class="ok"');
    expect(html).toContain('<rect class="c5"');
    expect(html).toContain('<polyline class="p95"');
    expect(html).not.toContain('no requests in the last 10 minutes');
  });

  it('lists restarts with reasons and incidents with ids, and the restart form with its token', () => {
    expect(html).toContain('worker 4242: max_requests &lt;script&gt;');
    expect(html).toContain('all workers: app.wsgi changed');
    expect(html).toContain('<code>K7Q2-M9XD-4T</code>');
    expect(html).toContain('<form method="post" action="/app.wsgi/.wsgikit/restart">');
    expect(html).toContain('name="token" value="f00dfeedf00dfeedf00dfeedf00dfeed"');
  });

  it('loads nothing, runs nothing, cannot be framed', () => {
    expect(html).not.toMatch(/<script|<img|<link|src=|url\(/i);
    expect(header(page, 'Content-Security-Policy')).toContain("default-src 'none'");
    expect(header(page, 'Content-Security-Policy')).toContain("frame-ancestors 'none'");
    expect(header(page, 'X-Frame-Options')).toBe('DENY');
    expect(header(page, 'Cache-Control')).toBe('no-store');
    expect(header(page, 'Content-Length')).toBe(String(page.body.length));
  });

  it('says so when there were no requests, and leaves the form out without a token', () => {
    const quiet = snapshot({ metrics: new PoolMetrics().snapshot(NOW), workers: [] });
    const text = statusHtml(quiet, { ...VIEW, restartToken: null }).body.toString('utf8');
    expect(text.match(/no requests in the last 10 minutes/g)).toHaveLength(2);
    expect(text).toContain('No worker is running');
    expect(text).not.toContain('<form');
  });

  it("shows the owner's setup notes, escaped, at the top; the JSON has them too", () => {
    const notes = ['The log is elsewhere. Fix: sudo install -d /x', EVIL];
    const html = statusHtml(snapshot(), { ...VIEW, setupNotes: notes }).body.toString('utf8');
    expect(html).toContain('<p class="setup">The log is elsewhere. Fix: sudo install -d /x</p>');
    expect(html).not.toContain('<script>');
    expect(html.indexOf('class="setup"')).toBeLessThan(html.indexOf('<h2>Workers'));
    expect(JSON.parse(statusJson(snapshot(), { ...VIEW, setupNotes: notes }).body.toString('utf8')).setupNotes).toEqual(
      notes,
    );
  });

  it('escapes the base path in links and the form', () => {
    const text = statusHtml(snapshot(), { ...VIEW, base: '/a"b<c' }).body.toString('utf8');
    expect(text).toContain('action="/a&quot;b&lt;c/.wsgikit/restart"');
    expect(text).not.toContain('/a"b<c');
  });
});

describe('the status page (JSON)', () => {
  it('is the snapshot plus how to restart', () => {
    const page = statusJson(snapshot(), VIEW);
    expect(header(page, 'Content-Type')).toBe('application/json; charset=utf-8');
    const data = JSON.parse(page.body.toString('utf8'));
    expect(Object.keys(data).sort()).toEqual(
      [
        'app',
        'failure',
        'generation',
        'limits',
        'metrics',
        'python',
        'queued',
        'restart',
        'served',
        'setupNotes',
        'workers',
      ].sort(),
    );
    expect(data.setupNotes).toEqual([]);
    expect(data.restart).toEqual({ url: '/app.wsgi/.wsgikit/restart', token: VIEW.restartToken });
    expect(data.workers[0]).toEqual({
      pid: 4243,
      state: 'busy',
      generation: 3,
      requests: 17,
      rss: 25 * 1048576,
      current: `POST /${EVIL}`,
      currentMs: 1500,
      queued: null,
    });
    expect(data.metrics.series).toHaveLength(60);
    expect(data.metrics.series[0]).toEqual(
      expect.objectContaining({ end: expect.any(Number), requests: expect.any(Number), byClass: expect.any(Array) }),
    );
    expect(data.metrics.totals).toEqual({ requests: 40, byClass: [0, 0, 36, 0, 0, 4], restarts: 2, incidents: 1 });
    expect(data.metrics.incidents[0].id).toBe('K7Q2-M9XD-4T');
  });

  it('never holds a raw "<"', () => {
    expect(statusJson(snapshot(), VIEW).body.toString('utf8')).not.toContain('<');
  });
});

describe('small pages and scales', () => {
  it('message pages come as HTML, text or JSON, all escaped', () => {
    const html = messagePage(403, 'Refused', [EVIL]).body.toString('utf8');
    expect(html).not.toContain('<script>');
    expect(messagePage(403, 'Refused', ['why'], 'text').body.toString('utf8')).toBe('403 Refused\n\nwhy\n');
    expect(JSON.parse(messagePage(405, 'No', ['why'], 'json').body.toString('utf8'))).toEqual({
      status: 405,
      title: 'No',
      message: 'why',
    });
  });

  it('niceMax rounds up to 1, 2 or 5 times a power of ten', () => {
    expect([0, 0.3, 1, 1.2, 3, 7, 12, 99, 101, 4500].map(niceMax)).toEqual([1, 1, 1, 2, 5, 10, 20, 100, 200, 5000]);
  });
});
