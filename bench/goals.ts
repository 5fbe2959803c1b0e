// The targets issue 6 sets, checked against this run's rows: each with the target value, what was
// measured, and met / missed (or "not run" when BENCH_ONLY left its workload out).

import type { Row } from './common.js';
import { MODE_NAME } from './offload.js';
import { DOWNLOAD_1G } from './transfer.js';

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | null;
}

const WSGIKIT = 'wsgikit wsgi-fcgi (nginx)';
const UWSGI = 'uWSGI --fastcgi-socket (nginx)';
/** The `wsgi-cgi` command in daemon mode: the native launcher wherever it was compiled. */
const CGI_DAEMON = 'wsgi-cgi daemon (mod_cgid)';
const MOD_WSGI = 'mod_wsgi daemon (Apache)';

export function goals(rows: Row[]): Goal[] {
  const row = (workload: string, target: string) => rows.find((r) => r.workload === workload && r.target === target);
  const out: Goal[] = [];
  const add = (goal: string, target: string, measure: () => { measured: string; met: boolean } | null) => {
    const result = measure();
    out.push(result ? { goal, target, ...result } : { goal, target, measured: 'not run', met: null });
  };
  const x = (v: number) => `${v.toFixed(2)}×`;

  for (const app of ['hello', 'flask']) {
    const w = `fcgi-${app}`;
    add(`FastCGI ${app} throughput, nginx: wsgikit / uWSGI`, '≥ 0.80×', () => {
      const [a, b] = [row(w, WSGIKIT), row(w, UWSGI)];
      return a && b ? { measured: x(a.value / b.value), met: a.value / b.value >= 0.8 } : null;
    });
    add(`FastCGI ${app} throughput, nginx: wsgikit / mod_wsgi daemon`, '≥ 1.00×', () => {
      const [a, b] = [row(w, WSGIKIT), row(w, MOD_WSGI)];
      return a && b ? { measured: x(a.value / b.value), met: a.value / b.value >= 1 } : null;
    });
    add(`FastCGI ${app} p99, nginx: wsgikit vs uWSGI, mod_wsgi`, 'no worse than either', () => {
      const [a, b, c] = [row(w, WSGIKIT), row(w, UWSGI), row(w, MOD_WSGI)];
      if (!a || !b || !c) return null;
      const measured = `${a.p99!.toFixed(2)} ms vs ${b.p99!.toFixed(2)} / ${c.p99!.toFixed(2)} ms`;
      return { measured, met: a.p99! <= Math.min(b.p99!, c.p99!) };
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
      const extra = a.value - b.value;
      return { measured: `${extra >= 0 ? '+' : ''}${extra.toFixed(2)} ms`, met: extra <= 3 };
    });
  }
  add('Head-of-line: fast requests over 1 s, wsgikit default settings', '0 of 50', () => {
    const [a, b, c] = [row('head-of-line', WSGIKIT), row('head-of-line', UWSGI), row('head-of-line', MOD_WSGI)];
    if (!a) return null;
    const anchors = `(uWSGI ${b?.value ?? '–'}, mod_wsgi ${c?.value ?? '–'})`;
    return { measured: `${a.value} of 50 ${anchors}`, met: a.value === 0 };
  });
  add('Front-end RSS under load (wsgi-fcgi, nginx, hello and Flask)', '≤ 60 MB', () => {
    const peaks = ['fcgi-hello', 'fcgi-flask'].map((w) => row(w, WSGIKIT)?.frontEndMb).filter((v) => v !== undefined);
    if (peaks.length === 0) return null;
    const peak = Math.max(...(peaks as number[]));
    return { measured: `${peak.toFixed(1)} MB`, met: peak <= 60 };
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
