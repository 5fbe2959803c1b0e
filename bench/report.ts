// bench/results/latest.md and latest.json: the table of every row, then the targets met or missed.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PER_ROUND, ROOT, ROUNDS, SECONDS, type Row } from './common.js';
import { goals } from './goals.js';

const fixed = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '' : v.toFixed(digits));

function rss(peak: number | undefined, growth: number | undefined): string {
  if (peak === undefined || Number.isNaN(peak)) return '';
  return growth === undefined || Number.isNaN(growth) ? fixed(peak) : `${fixed(peak)} (+${fixed(growth)})`;
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
    'CPU ms: user + system time of the front end / of the workers together during a run (median).',
    'Every target: 2 Python processes per app (mod_fcgid: 2 wsgi-fcgi of 1 worker each), /usr/bin/python3.',
    '',
    '| workload | target | median | ratio | p50 | p99 | front-end RSS | worker RSS | CPU ms |',
    '|---|---|---|---|---|---|---|---|---|',
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
          rss(r.workerMb, r.workerGrowthMb),
          cpu(r.frontEndCpuMs, r.workerCpuMs),
        ].join(' | '),
      )
      .map((line) => `| ${line} |`),
    '',
    '## Targets (issue 6)',
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
