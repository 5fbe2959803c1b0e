// bench/results/latest.md and latest.json: the table of every row, then the targets met or missed.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PER_ROUND, ROOT, ROUNDS, SECONDS, type Row } from './common.js';
import { FLOOR_NAME } from './floor.js';
import { goals, WSGIKIT_DEPTH } from './goals.js';
import { PER_CONNECTION } from './nginx.js';

const fixed = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '' : v.toFixed(digits));

function rss(peak: number | undefined, growth: number | undefined): string {
  if (peak === undefined || Number.isNaN(peak)) return '';
  return growth === undefined || Number.isNaN(growth) ? fixed(peak) : `${fixed(peak)} (+${fixed(growth)})`;
}

function own(mb: number | undefined, fileMb: number | undefined): string {
  return mb === undefined || Number.isNaN(mb) ? '' : `${fixed(mb)} (${fixed(fileMb)})`;
}

const WSGIKIT = 'wsgikit wsgi-fcgi (nginx)';
const FCGID = 'wsgikit wsgi-fcgi (mod_fcgid)';

/**
 * Per app: wsgikit next to the floor of its design (the bare relay, the Python prefork server),
 * uWSGI, and under mod_fcgid next to the drop-in .fcgi; wsgikit's throughput over each, and the
 * CPU each spends per request.
 */
function floorTable(rows: Row[]): string[] {
  const lines: string[] = [];
  for (const app of ['hello', 'flask']) {
    const of = (target: string) => rows.find((r) => r.workload === `fcgi-${app}` && r.target === target);
    const [uwsgi, ours, fcgid] = [of('uWSGI --fastcgi-socket (nginx)'), of(WSGIKIT), of(FCGID)];
    const floor = [FLOOR_NAME.relay(1), FLOOR_NAME.relay(2), FLOOR_NAME.prefork];
    for (const [wsgikit, targets] of [
      [ours, [WSGIKIT, PER_CONNECTION, ...floor, 'uWSGI --fastcgi-socket (nginx)']],
      [fcgid, [FCGID, FLOOR_NAME.fcgidRelay, FLOOR_NAME.dropIn]],
    ] as const) {
      for (const target of targets) {
        const r = of(target);
        if (!r || !wsgikit) continue;
        const times = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '' : `${v.toFixed(2)}×`);
        lines.push(
          `| ${app} | ${target} | ${fixed(r.value, 0)} | ${times(uwsgi && r.value / uwsgi.value)} | ` +
            `${times(wsgikit.value / r.value)} | ${fixed(r.frontEndUsPerRequest, 0) || '–'} | ` +
            `${fixed(r.workerUsPerRequest, 0)} |`,
        );
      }
    }
  }
  if (lines.length === 0) return [];
  return [
    '## wsgikit and the floor of its design (FastCGI)',
    '',
    "The bare relay is wsgikit's shape and nothing else (bench/floor/): nginx keep-alive → one Node",
    'process → 2 Python workers over socketpairs; depth 1 sends a worker one request at a time, depth 2',
    'a second one while it is busy. The stdlib Python prefork FastCGI server has no Node at all. The',
    "drop-in .fcgi is that Python server run by mod_fcgid, as flup's WSGIServer().run() would be",
    "(flup is not in Debian); the bare relay .fcgi is the relay (1 worker) in wsgi-fcgi's place there.",
    '"wsgikit ×": wsgikit\'s req/s over this row\'s (behind nginx; under mod_fcgid for the mod_fcgid',
    'rows). The no keep-alive row is a second wsgi-fcgi, run as the first, given a new connection per',
    'request, as mod_fcgid, nginx without keep-alive and the CGI launcher give it. CPU µs per request:',
    'front end (Node) and workers (summed), median over rounds. Issue 16',
    `compares wsgikit with the relay at depth ${WSGIKIT_DEPTH}.`,
    '',
    '| app | target | req/s | × uWSGI | wsgikit × | front-end µs/request | worker µs/request |',
    '|---|---|---|---|---|---|---|',
    ...lines,
    '',
  ];
}

function cpu(frontEnd: number | undefined, workers: number | undefined): string {
  const [a, b] = [fixed(frontEnd, 0), fixed(workers, 0)];
  return a || b ? `${a || '–'} / ${b || '–'}` : '';
}

export function writeReport(rows: Row[], started: Date, seconds: number): string {
  const met = goals(rows);
  const lines = [
    `# wsgikit benchmark (${started.toISOString()}, ${Math.round(seconds)} s)`,
    '',
    `${ROUNDS} interleaved rounds (transfers: ${Math.min(ROUNDS, 3)}); CGI: ${PER_ROUND} sequential requests per target and round;`,
    `FastCGI: wrk -t2 -c16 for ${SECONDS} s per target and round. Medians over rounds; ratio = target / the`,
    `workload's first target (req/s: higher is faster; ms and s: lower is faster). p50/p99 in ms.`,
    'RSS in MB: the largest front-end process (wsgi-fcgi or wsgi-cgi for wsgikit, the uWSGI master,',
    "Apache's processes for mod_wsgi; nginx and Apache in front of wsgikit not counted) and the",
    'largest Python worker, peak over the rounds; (+N): growth over its RSS before the run.',
    "Front-end own MB: the largest front-end process's anonymous + shared-memory pages (what the host",
    "pays for that process), sampled peak; in brackets its file pages then (the node binary's and",
    "libraries', shared by every process running them).",
    'CPU ms: user + system time of the front end / of the workers together during a run (median).',
    'Every target: 2 Python processes per app (mod_fcgid: 2 processes of each .fcgi; a wsgi-fcgi or a',
    'bare relay there has 1 worker), /usr/bin/python3.',
    '',
    '| workload | target | median | ratio | p50 | p99 | front-end RSS | front-end own (file) | worker RSS | CPU ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows
      .map((r) =>
        [
          r.workload,
          r.target,
          [
            Number.isNaN(r.value)
              ? ''
              : `${fixed(r.value, r.unit === 'req/s' || r.unit.startsWith('of') ? 0 : 2)} ${r.unit}`,
            r.note ?? '',
          ]
            .filter(Boolean)
            .join(' — '),
          Number.isNaN(r.ratio) ? '' : `${r.ratio.toFixed(2)}×`,
          fixed(r.p50, 2),
          fixed(r.p99, 2),
          rss(r.frontEndMb, r.frontEndGrowthMb),
          own(r.frontEndOwnMb, r.frontEndFileMb),
          rss(r.workerMb, r.workerGrowthMb),
          cpu(r.frontEndCpuMs, r.workerCpuMs),
        ].join(' | '),
      )
      .map((line) => `| ${line} |`),
    '',
    ...floorTable(rows),
    '## Targets (issues 6, 15 and 16)',
    '',
    '| goal | target | measured | |',
    '|---|---|---|---|',
    ...met.map(
      (g) => `| ${g.goal} | ${g.target} | ${g.measured} | ${g.met === null ? 'not run' : g.met ? 'met' : 'missed'} |`,
    ),
  ];
  const text = lines.join('\n') + '\n';
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.md'), text);
  const json = {
    started: started.toISOString(),
    seconds,
    rounds: ROUNDS,
    perRound: PER_ROUND,
    loadSeconds: SECONDS,
    rows,
    goals: met,
  };
  writeFileSync(
    join(dir, 'latest.json'),
    JSON.stringify(json, (_k, v: unknown) => (typeof v === 'number' && Number.isNaN(v) ? null : v), 2) + '\n',
  );
  return text;
}
