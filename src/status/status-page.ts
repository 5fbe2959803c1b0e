// The owner's status page: one app's pool as the owner needs to see it (workers and what each is
// doing, requests and latency over the last ten minutes as charts, restarts and their reasons,
// recent incidents), and the same as JSON for tools. Server-side HTML and SVG only: no script, no
// fetch, nothing outside the page, every string escaped (app paths, request paths and incident
// summaries all come from outside). The small pages the status routes answer with live here too.

import { Buffer } from 'node:buffer';
import type { PoolSnapshot } from '../pool/pool.js';
import type { SeriesPoint } from '../pool/pool-metrics.js';
import type { Page } from '../pages/error-page.js';
import { STYLE } from '../pages/error-page.js';
import { escapeHtml } from '../pages/escape.js';
import { formatBytes } from '../pages/wording.js';
import { documentHead } from '../pages/document-head.js';

export interface StatusView {
  /** SCRIPT_NAME of the app: links and the restart form are made under it. */
  base: string;
  /** The restart form's token; null leaves the form out. */
  restartToken: string | null;
  /** A line at the top ("Restart requested …"). */
  notice?: string;
  /** What the owner should fix about the setup (where the log is meanwhile, daemon mode off), with the fix. */
  setupNotes?: readonly string[];
  /** Seconds between automatic refreshes of the HTML page; 0 for none. */
  refreshSeconds?: number;
}

/** Headers of every status page: nothing may load, be framed, or post anywhere but here. */
export function pageHeaders(contentType: string, body: Buffer): Array<[string, string]> {
  return [
    ['Content-Type', contentType],
    ['Content-Length', String(body.length)],
    ['Cache-Control', 'no-store'],
    ['X-Content-Type-Options', 'nosniff'],
    [
      'Content-Security-Policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ],
    ['X-Frame-Options', 'DENY'],
    // The restart form's POST carries a Referer for the same-origin check when Origin is missing.
    ['Referrer-Policy', 'same-origin'],
    ['X-Robots-Tag', 'noindex'],
  ];
}

export function statusHtml(snapshot: PoolSnapshot, view: StatusView): Page {
  return htmlPage(200, `Status · ${appName(snapshot.app)}`, renderStatus(snapshot, view), view.refreshSeconds ?? 0);
}

/** The snapshot as it is, plus where and how to restart. */
export function statusJson(snapshot: PoolSnapshot, view: StatusView): Page {
  const restart =
    view.restartToken === null ? null : { url: `${view.base}/.wsgikit/restart`, token: view.restartToken };
  // `<` escaped so that the JSON stays inert even if something renders it as HTML.
  const text = JSON.stringify({ ...snapshot, restart, setupNotes: view.setupNotes ?? [] }, null, 2).replace(
    /</g,
    '\\u003c',
  );
  const body = Buffer.from(text + '\n', 'utf8');
  return { status: 200, headers: pageHeaders('application/json; charset=utf-8', body), body };
}

/** A short page with a heading and sentences (plain text when `format` is `text`). */
export function messagePage(
  status: number,
  title: string,
  sentences: string[],
  format: 'html' | 'text' | 'json' = 'html',
  extraHeaders: Array<[string, string]> = [],
  extraHead = '',
): Page {
  if (format === 'json') {
    const body = Buffer.from(JSON.stringify({ status, title, message: sentences.join(' ') }) + '\n', 'utf8');
    return { status, headers: withHeaders(pageHeaders('application/json; charset=utf-8', body), extraHeaders), body };
  }
  if (format === 'text') {
    const body = Buffer.from(`${status} ${title}\n\n${sentences.join('\n')}\n`, 'utf8');
    return { status, headers: withHeaders(pageHeaders('text/plain; charset=utf-8', body), extraHeaders), body };
  }
  const main = [`<h1>${escapeHtml(title)}</h1>`, ...sentences.map((s) => `<p>${escapeHtml(s)}</p>`)].join('\n');
  const page = htmlPage(status, title, main, 0, extraHead);
  return { ...page, headers: withHeaders(page.headers, extraHeaders) };
}

/** `extra` added to `base`, each replacing a header of the same name. */
function withHeaders(base: Array<[string, string]>, extra: Array<[string, string]>): Array<[string, string]> {
  const names = new Set(extra.map(([name]) => name.toLowerCase()));
  return [...base.filter(([name]) => !names.has(name.toLowerCase())), ...extra];
}

// --- the page -----------------------------------------------------------------------------------

function htmlPage(status: number, title: string, main: string, refreshSeconds: number, extraHead = ''): Page {
  const html = [
    ...documentHead(title, STYLE + STATUS_STYLE, [
      refreshSeconds > 0 ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : '',
      extraHead,
    ]),
    '<body>',
    '<main>',
    main,
    '</main>',
    '</body>',
    '</html>',
    '',
  ]
    .filter((line) => line !== '')
    .join('\n');
  const body = Buffer.from(html + '\n', 'utf8');
  return { status, headers: pageHeaders('text/html; charset=utf-8', body), body };
}

function renderStatus(s: PoolSnapshot, view: StatusView): string {
  const m = s.metrics;
  const live = s.workers.filter((w) => w.state !== 'dead').length;
  const parts: string[] = [
    `<h1>${escapeHtml(appName(s.app))} <span class="muted">status</span></h1>`,
    view.notice === undefined ? '' : `<p class="notice">${escapeHtml(view.notice)}</p>`,
    ...(view.setupNotes ?? []).map((note) => `<p class="setup">${escapeHtml(note)}</p>`),
    '<dl>',
    `<dt>App</dt><dd><code>${escapeHtml(s.app)}</code></dd>`,
    `<dt>Python</dt><dd><code>${escapeHtml(s.python)}</code></dd>`,
    `<dt>Workers</dt><dd>${live} running, at most ${s.limits.processes}</dd>`,
    `<dt>Queue</dt><dd>${s.queued} waiting, room for ${s.limits.queueSize}</dd>`,
    `<dt>Served</dt><dd>${s.served} requests since the service started; ` +
      `${m.lastMinute.requests} in the last minute, ${m.lastMinute.errors} of them 5xx` +
      (m.lastMinute.p95 === null ? '' : `, p50 ${ms(m.lastMinute.p50)}, p95 ${ms(m.lastMinute.p95)}`) +
      '</dd>',
    `<dt>Generation</dt><dd>${s.generation} (one more per reload)</dd>`,
    s.failure === null ? '' : `<dt>Failing</dt><dd class="bad">${escapeHtml(s.failure)}</dd>`,
    '</dl>',
    '<h2>Workers</h2>',
    workersTable(s.workers),
  ];
  if (view.restartToken !== null) {
    parts.push(
      `<form method="post" action="${escapeHtml(view.base)}/.wsgikit/restart">`,
      `<input type="hidden" name="token" value="${escapeHtml(view.restartToken)}">`,
      '<button type="submit">Restart the app</button> ',
      '<span class="muted">New requests go to fresh workers; requests already running finish first.</span>',
      '</form>',
    );
  }
  parts.push(
    '<h2>Requests per second, last 10 minutes</h2>',
    requestsChart(m.series, m.step),
    '<h2>Latency, last 10 minutes</h2>',
    latencyChart(m.series),
    `<h2>Restarts <span class="muted">(${m.totals.restarts} in all)</span></h2>`,
    eventList(
      m.restarts.map((r) => ({
        at: r.at,
        label: r.pid === null ? 'all workers' : `worker ${r.pid}`,
        text: r.reason,
      })),
      m.now,
      'No restarts yet.',
    ),
    `<h2>Recent incidents <span class="muted">(${m.totals.incidents} in all; details in the app's log)</span></h2>`,
    eventList(
      m.incidents.map((i) => ({ at: i.at, label: i.id, text: i.summary, code: true })),
      m.now,
      'No incidents.',
    ),
    `<p class="muted">As of ${escapeHtml(new Date(m.now * 1000).toISOString().replace('.000Z', 'Z'))}. ` +
      `<a href="${escapeHtml(view.base)}/.wsgikit/status">Refresh</a> · ` +
      `<a href="${escapeHtml(view.base)}/.wsgikit/status?format=json">JSON</a></p>`,
  );
  return parts.filter((p) => p !== '').join('\n');
}

function workersTable(workers: PoolSnapshot['workers']): string {
  if (workers.length === 0) {
    return '<p class="muted">No worker is running; the next request starts one.</p>';
  }
  const rows = workers.map(
    (w) =>
      '<tr>' +
      `<td>${w.pid ?? '–'}</td>` +
      `<td><span class="state ${escapeHtml(w.state)}">${escapeHtml(w.state)}</span></td>` +
      `<td class="num">${w.generation}</td>` +
      `<td class="num">${w.requests}</td>` +
      `<td class="num">${w.rss === null ? '–' : escapeHtml(formatBytes(w.rss))}</td>` +
      `<td>${w.current === null ? '' : `<code>${escapeHtml(w.current)}</code>`}</td>` +
      `<td class="num">${w.currentMs === null ? '' : ms(w.currentMs)}</td>` +
      '</tr>',
  );
  return [
    '<table class="workers">',
    '<thead><tr><th>PID</th><th>State</th><th class="num">Gen.</th><th class="num">Requests</th>' +
      '<th class="num">Memory</th><th>Current request</th><th class="num">For</th></tr></thead>',
    '<tbody>',
    ...rows,
    '</tbody>',
    '</table>',
  ].join('\n');
}

function eventList(
  events: Array<{ at: number; label: string; text: string; code?: boolean }>,
  nowSecond: number,
  empty: string,
): string {
  if (events.length === 0) return `<p class="muted">${escapeHtml(empty)}</p>`;
  const items = events.map((e) => {
    const label = e.code ? `<code>${escapeHtml(e.label)}</code>` : escapeHtml(e.label);
    const when = new Date(e.at).toISOString();
    return (
      `<li><time datetime="${escapeHtml(when)}" title="${escapeHtml(when)}">` +
      `${escapeHtml(ago(nowSecond * 1000 - e.at))}</time> ${label}: ${escapeHtml(e.text)}</li>`
    );
  });
  return ['<ul class="events">', ...items, '</ul>'].join('\n');
}

// --- charts -------------------------------------------------------------------------------------

const W = 720;
const H = 150;
const LEFT = 48;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 22;
const PLOT_W = W - LEFT - RIGHT;
const PLOT_H = H - TOP - BOTTOM;

/** Stacked bars per step: answered (1xx–3xx), 4xx, 5xx, client gone. */
export function requestsChart(series: SeriesPoint[], step: number): string {
  const perSecond = (n: number) => n / step;
  const max = niceMax(Math.max(0, ...series.map((p) => perSecond(p.requests))));
  const barW = PLOT_W / Math.max(1, series.length);
  const bars: string[] = [];
  series.forEach((p, i) => {
    if (p.requests === 0) return;
    const [gone = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0] = p.byClass;
    const layers: Array<[string, number]> = [
      ['ok', c1 + c2 + c3],
      ['c4', c4],
      ['c5', c5],
      ['gone', gone],
    ];
    let y = TOP + PLOT_H;
    const x = LEFT + i * barW + 0.5;
    for (const [cls, n] of layers) {
      if (n === 0) continue;
      const h = (perSecond(n) / max) * PLOT_H;
      y -= h;
      bars.push(
        `<rect class="${cls}" x="${fix(x)}" y="${fix(y)}" width="${fix(Math.max(1, barW - 1))}" height="${fix(h)}"/>`,
      );
    }
  });
  const total = series.reduce((n, p) => n + p.requests, 0);
  const label = `Requests per second over the last 10 minutes, in ${step}-second steps; ${total} requests in all.`;
  const legend =
    '<p class="legend"><span class="key ok"></span>answered <span class="key c4"></span>4xx ' +
    '<span class="key c5"></span>5xx <span class="key gone"></span>client went away</p>';
  return chart(label, max, '/s', bars.join(''), total === 0) + legend;
}

/** p95 and p50 per step as lines; steps without requests leave a gap. */
export function latencyChart(series: SeriesPoint[]): string {
  const max = niceMax(Math.max(0, ...series.map((p) => p.p95 ?? 0)));
  const step = PLOT_W / Math.max(1, series.length);
  const line = (pick: (p: SeriesPoint) => number | null, cls: string): string => {
    const runs: string[][] = [];
    let run: string[] = [];
    series.forEach((p, i) => {
      const v = pick(p);
      if (v === null) {
        if (run.length > 0) runs.push(run);
        run = [];
        return;
      }
      run.push(`${fix(LEFT + (i + 0.5) * step)},${fix(TOP + PLOT_H - (Math.min(v, max) / max) * PLOT_H)}`);
    });
    if (run.length > 0) runs.push(run);
    return runs
      .map((points) =>
        points.length === 1
          ? `<circle class="${cls}" cx="${points[0]!.split(',')[0]}" cy="${points[0]!.split(',')[1]}" r="2.5"/>`
          : `<polyline class="${cls}" points="${points.join(' ')}"/>`,
      )
      .join('');
  };
  const empty = series.every((p) => p.p95 === null);
  const label = 'Request latency over the last 10 minutes: p95 and p50 in milliseconds.';
  const legend = '<p class="legend"><span class="key p95"></span>p95 <span class="key p50"></span>p50</p>';
  return chart(label, max, ' ms', line((p) => p.p50, 'p50') + line((p) => p.p95, 'p95'), empty) + legend;
}

function chart(label: string, max: number, unit: string, marks: string, empty: boolean): string {
  const grid: string[] = [];
  for (const fraction of [0, 0.5, 1]) {
    const y = fix(TOP + PLOT_H - fraction * PLOT_H);
    grid.push(`<line class="grid" x1="${LEFT}" y1="${y}" x2="${W - RIGHT}" y2="${y}"/>`);
    grid.push(
      `<text class="axis" x="${LEFT - 6}" y="${y}" text-anchor="end" dy="0.35em">${axisNumber(max * fraction)}${escapeHtml(unit)}</text>`,
    );
  }
  const bottom = TOP + PLOT_H + 16;
  const ticks = [
    [LEFT, '−10 min', 'start'],
    [LEFT + PLOT_W / 2, '−5 min', 'middle'],
    [W - RIGHT, 'now', 'end'],
  ] as const;
  for (const [x, text, anchor] of ticks) {
    grid.push(`<text class="axis" x="${fix(x)}" y="${bottom}" text-anchor="${anchor}">${text}</text>`);
  }
  const note = empty
    ? `<text class="axis" x="${LEFT + PLOT_W / 2}" y="${TOP + PLOT_H / 2}" text-anchor="middle">no requests in the last 10 minutes</text>`
    : '';
  return (
    `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(label)}">` +
    `<title>${escapeHtml(label)}</title>${grid.join('')}${marks}${note}</svg>`
  );
}

/** 1, 2 or 5 times a power of ten, at least `value` (and at least 1). */
export function niceMax(value: number): number {
  if (!(value > 1)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (m * power >= value) return m * power;
  return 10 * power;
}

function axisNumber(n: number): string {
  if (n >= 10_000) return `${Number((n / 1000).toFixed(1))}k`;
  return String(Number(n.toFixed(n < 10 ? 2 : 0)));
}

function fix(n: number): string {
  return String(Math.round(n * 10) / 10);
}

// --- words --------------------------------------------------------------------------------------

/** `app.wsgi` from its path, as a title. */
function appName(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1) || file;
}

function ms(value: number | null): string {
  if (value === null) return '–';
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${Number((value / 1000).toFixed(1))} s`;
  return `${Math.floor(value / 60_000)} min ${Math.round((value % 60_000) / 1000)} s`;
}

function ago(msAgo: number): string {
  const s = Math.max(0, Math.round(msAgo / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

// Added to the error pages' stylesheet: tables, charts, the restart button; light and dark.
const STATUS_STYLE = [
  'main{max-width:60rem}',
  '.muted{color:GrayText;font-weight:400}',
  '.notice{padding:.5rem .75rem;border:1px solid #3b82f6;border-radius:6px}',
  '.bad{color:#dc2626;font-weight:600}',
  'h2{margin-top:1.5rem}',
  'table{border-collapse:collapse;width:100%;font-size:.95rem}',
  'th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid rgba(127,127,127,.3);vertical-align:top}',
  '.num{text-align:right;font-variant-numeric:tabular-nums}',
  '.state{padding:0 .4rem;border-radius:4px;background:rgba(127,127,127,.15)}',
  '.state.busy{background:rgba(59,130,246,.25)}',
  '.state.idle{background:rgba(34,197,94,.25)}',
  '.state.stopping,.state.dead{background:rgba(220,38,38,.2)}',
  'svg.chart{display:block;width:100%;height:auto;color:inherit}',
  'svg .grid{stroke:currentColor;stroke-opacity:.2;stroke-width:1}',
  'svg .axis{fill:currentColor;fill-opacity:.7;font-size:11px}',
  'svg .ok{fill:#3b82f6}svg .c4{fill:#d97706}svg .c5{fill:#dc2626}svg .gone{fill:#9ca3af}',
  'svg polyline{fill:none;stroke-width:2;stroke-linejoin:round}',
  'svg .p95{stroke:#7c3aed;fill:#7c3aed}svg .p50{stroke:#10b981;fill:#10b981}',
  'svg polyline.p95,svg polyline.p50{fill:none}',
  '.legend{margin:.25rem 0 0;font-size:.85rem;color:GrayText}',
  '.key{display:inline-block;width:.8em;height:.8em;margin:0 .3em 0 .8em;vertical-align:-.05em;border-radius:2px}',
  '.key.ok{background:#3b82f6}.key.c4{background:#d97706}.key.c5{background:#dc2626}.key.gone{background:#9ca3af}',
  '.key.p95{background:#7c3aed}.key.p50{background:#10b981}',
  'form{margin:1rem 0}',
  'button{font:inherit;padding:.35rem .9rem;border-radius:6px;border:1px solid #c8a400;background:rgba(200,164,0,.15);color:inherit;cursor:pointer}',
  '.events{padding-left:1.2rem}.events li{margin:.15rem 0;overflow-wrap:anywhere}',
  'time{color:GrayText}',
].join('');
