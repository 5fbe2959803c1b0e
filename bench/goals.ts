// The targets issues 6, 15 and 16 set, checked against this run's rows: each with the target value,
// what was measured, and met / missed (or "not run" when BENCH_ONLY left its workload out).

import type { Row } from './common.js';
import { FLOOR_NAME, type Depth } from './floor.js';
import { MODE_NAME } from './offload.js';
import { DOWNLOAD_1G } from './transfer.js';

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const WSGIKIT = 'wsgikit wsgi-fcgi (nginx)';
const FCGID = 'wsgikit wsgi-fcgi (mod_fcgid)';
const UWSGI = 'uWSGI --fastcgi-socket (nginx)';
/** The `wsgi-cgi` command in daemon mode: the native launcher wherever it was compiled. */
const CGI_DAEMON = 'wsgi-cgi daemon (mod_cgid)';
const MOD_WSGI = 'mod_wsgi daemon (Apache)';
/** mod_cgid's own cost per request: a static C CGI (bench/apache.ts). */
const CGI_FLOOR = 'C program that only answers (mod_cgid)';
/** Issue 16: wsgikit's throughput over uWSGI's, per app. */
const THROUGHPUT = { hello: 0.9, flask: 0.85 } as const;
/** Issue 16: wsgikit's Node CPU per request over the bare relay's, and worker µs over the bare worker's. */
const NODE_CPU = 1.15;
const WORKER_CPU_US = 5;
/** The depth wsgikit runs at: issue 16 has a worker never wait on Node (a second request queued in it). */
export const WSGIKIT_DEPTH: Depth = 2;

const fixed = (v: number | undefined, digits = 1) => (v === undefined ? '–' : v.toFixed(digits));

export function goals(rows: Row[]): Goal[] {
  const row = (workload: string, target: string) => rows.find((r) => r.workload === workload && r.target === target);
  const out: Goal[] = [];
  const add = (goal: string, target: string, measure: () => { measured: string; met: boolean } | null) => {
    const result = measure();
    out.push(result ? { goal, target, ...result } : { goal, target, measured: 'not run', met: null });
  };
  const x = (v: number) => `${v.toFixed(2)}×`;
  const ms = (v: number | undefined) => `${fixed(v, 2)} ms`;
  const us = (v: number) => `${v.toFixed(0)} µs`;

  for (const app of ['hello', 'flask'] as const) {
    const w = `fcgi-${app}`;
    const [ours, uwsgi, modWsgi] = [row(w, WSGIKIT), row(w, UWSGI), row(w, MOD_WSGI)];
    const floor = row(w, FLOOR_NAME.relay(WSGIKIT_DEPTH));
    add(`FastCGI ${app} throughput, nginx: wsgikit / uWSGI`, `≥ ${x(THROUGHPUT[app])}`, () =>
      ours && uwsgi
        ? { measured: x(ours.value / uwsgi.value), met: ours.value / uwsgi.value >= THROUGHPUT[app] }
        : null,
    );
    add(`FastCGI ${app} p99, nginx: wsgikit vs mod_wsgi daemon`, 'no worse', () =>
      ours && modWsgi ? { measured: `${ms(ours.p99)} vs ${ms(modWsgi.p99)}`, met: ours.p99! <= modWsgi.p99! } : null,
    );
    add(
      `FastCGI ${app}: Node CPU per request, wsgikit / bare relay at depth ${WSGIKIT_DEPTH}`,
      `≤ ${x(NODE_CPU)}`,
      () => {
        const [a, b] = [ours?.frontEndUsPerRequest, floor?.frontEndUsPerRequest];
        if (a === undefined || b === undefined) return null;
        return { measured: `${us(a)} vs ${us(b)} (${x(a / b)})`, met: a <= NODE_CPU * b };
      },
    );
    add(
      `FastCGI ${app}: worker CPU per request, wsgikit vs bare worker at depth ${WSGIKIT_DEPTH}`,
      `≤ bare + ${WORKER_CPU_US} µs`,
      () => {
        const [a, b] = [ours?.workerUsPerRequest, floor?.workerUsPerRequest];
        if (a === undefined || b === undefined) return null;
        return { measured: `${us(a)} vs ${us(b)}`, met: a <= b + WORKER_CPU_US };
      },
    );
    add(`FastCGI ${app} throughput, mod_fcgid: wsgikit / the drop-in .fcgi`, '≥ 1.00×', () => {
      const [a, b] = [row(w, FCGID), row(w, FLOOR_NAME.dropIn)];
      return a && b ? { measured: x(a.value / b.value), met: a.value / b.value >= 1 } : null;
    });
  }
  add('CGI one-shot hello per-request time / wsgiref CGI', '≤ 1.30×', () => {
    const [a, b] = [
      row('cgi-hello', 'wsgi-cgi one-shot (mod_cgid)'),
      row('cgi-hello', 'wsgiref CGIHandler (mod_cgid)'),
    ];
    return a && b ? { measured: x(a.value / b.value), met: a.value / b.value <= 1.3 } : null;
  });
  add('CGI daemon mode hello per-request time / wsgiref CGI', '≤ 0.25×', () => {
    const [a, b] = [row('cgi-hello', CGI_DAEMON), row('cgi-hello', 'wsgiref CGIHandler (mod_cgid)')];
    return a && b ? { measured: x(a.value / b.value), met: a.value / b.value <= 0.25 } : null;
  });
  add('CGI daemon mode Flask: wsgiref CGI time / daemon time', '≥ 20×', () => {
    const [a, b] = [row('cgi-flask', CGI_DAEMON), row('cgi-flask', 'wsgiref CGIHandler (mod_cgid)')];
    return a && b ? { measured: x(b.value / a.value), met: b.value / a.value >= 20 } : null;
  });
  for (const app of ['hello', 'flask']) {
    add(`CGI launcher over the same daemon through mod_proxy_fcgi, ${app}`, '≤ +3 ms', () => {
      const [a, b] = [row(`cgi-${app}`, CGI_DAEMON), row(`cgi-${app}`, 'wsgi-cgi daemon direct (mod_proxy_fcgi)')];
      if (!a || !b) return null;
      const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)} ms`;
      const extra = a.value - b.value;
      // What any CGI program costs under mod_cgid, so a reader can tell the launcher's share of
      // the difference from the server's.
      const floor = row('cgi-hello', CGI_FLOOR);
      const server = floor ? `; a C CGI that only answers takes ${floor.value.toFixed(2)} ms` : '';
      return { measured: `${signed(extra)}${server}`, met: extra <= 3 };
    });
  }
  add('Head-of-line: fast requests over 1 s, wsgikit default settings', '0 of 50', () => {
    const [a, b, c] = [row('head-of-line', WSGIKIT), row('head-of-line', UWSGI), row('head-of-line', MOD_WSGI)];
    if (!a) return null;
    const anchors = `(uWSGI ${b?.value ?? '–'}, mod_wsgi ${c?.value ?? '–'})`;
    return { measured: `${a.value} of 50 ${anchors}`, met: a.value === 0 };
  });
  add('Front-end private memory under load (wsgi-fcgi, nginx, hello and Flask)', '≤ 20 MB', () => {
    const peaks = ['fcgi-hello', 'fcgi-flask']
      .map((w) => row(w, WSGIKIT))
      .filter((r) => r?.frontEndOwnMb !== undefined);
    if (peaks.length === 0) return null;
    const worst = peaks.reduce((a, b) => (b!.frontEndOwnMb! > a!.frontEndOwnMb! ? b : a))!;
    const own = worst.frontEndOwnMb!;
    const shared = `file pages ${fixed(worst.frontEndFileMb)} MB, RSS ${fixed(worst.frontEndMb)} MB`;
    return { measured: `${fixed(own)} MB (${shared})`, met: own <= 20 };
  });
  for (const app of ['hello', 'flask']) {
    add(`Bridge worker RSS over bare Python, ${app}`, '≤ 3 MB', () => {
      const a = row(`memory-${app}`, WSGIKIT);
      return a ? { measured: `${a.value.toFixed(1)} MB`, met: a.value <= 3 } : null;
    });
  }
  for (const target of [WSGIKIT, 'wsgikit wsgi-fcgi (mod_fcgid)', 'wsgi-cgi daemon (mod_cgid)']) {
    add(`RSS growth during 100 MB transfers, ${target}`, '≤ 20 MB', () => {
      const moved = ['upload', 'upload-chunked', 'download'].map((w) => row(w, target)).filter((r) => r !== undefined);
      if (moved.length === 0) return null;
      const fe = Math.max(...moved.map((r) => r!.frontEndGrowthMb ?? NaN));
      const worker = Math.max(...moved.map((r) => r!.workerGrowthMb ?? NaN));
      return {
        measured: `front end +${fe.toFixed(1)} MB, worker +${worker.toFixed(1)} MB (worst of ${moved.length})`,
        met: Math.max(fe, worker) <= 20,
      };
    });
  }
  add('1 GiB download handed to nginx: worker CPU and RSS growth (issue 9)', '≈ 0: ≤ 50 ms, ≤ 1 MB', () => {
    const ways = Object.entries(DOWNLOAD_1G).map(([via, w]) => ({
      via,
      offloaded: row(w, MODE_NAME['x-accel-redirect']),
      streamed: row(w, MODE_NAME.none),
    }));
    if (ways.every((w) => !w.offloaded)) return null;
    const ms = (r: Row | undefined) => `${(r?.workerCpuMs ?? NaN).toFixed(0)} ms`;
    const measured = ways
      .map(({ via, offloaded, streamed }) => {
        const growth = (offloaded?.workerGrowthMb ?? NaN).toFixed(1);
        return `${via}: ${ms(offloaded)}, +${growth} MB (streamed: ${ms(streamed)})`;
      })
      .join('; ');
    const met = ways.every(({ offloaded: r }) => r && r.workerCpuMs! <= 50 && r.workerGrowthMb! <= 1);
    return { measured, met };
  });
  return out;
}
