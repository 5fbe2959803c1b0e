// npm run bench: every workload, every target, one run; prints a Markdown table of medians and
// ratios to the reference target and writes it with the raw rows to bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { benchCgi } from './cgi.js';
import { ROOT, type Row } from './common.js';
import { benchFastcgi } from './fastcgi.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const perRound = Number(process.env.BENCH_PER_ROUND ?? 10);
delete process.env.NODE_EXTRA_CA_CERTS; // web servers do not pass it to CGI programs; it slows Node's start

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
ensureTools();
const rows: Row[] = [...(await benchCgi(rounds, perRound)), ...(await benchFastcgi(rounds, seconds))];

const lines = [
  `# wsgikit benchmark (${new Date().toISOString()})`,
  '',
  `${rounds} interleaved rounds × ${perRound} requests per target; medians; ratio = target / reference (lower is faster).`,
  '',
  '| workload | target | median | ratio |',
  '|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.workload} | ${r.target} | ${r.value.toFixed(1)} ${r.unit} | ${Number.isNaN(r.ratio) ? '' : `${r.ratio.toFixed(2)}×`} |`,
  ),
];
const table = lines.join('\n') + '\n';
process.stdout.write(table);
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'latest.md'), table);
writeFileSync(join(dir, 'latest.json'), JSON.stringify({ rounds, perRound, rows }, null, 2) + '\n');

/** On a fresh machine: the anchors and load tools, from Debian (as root, like .ci/run). */
function ensureTools(): void {
  const missing = [
    ['wrk', 'wrk'],
    ['nginx', 'nginx-light'],
    ['uwsgi', 'uwsgi-core'],
    ['/usr/lib/uwsgi/plugins/python3_plugin.so', 'uwsgi-plugin-python3'],
    ['/usr/lib/python3/dist-packages/flask', 'python3-flask'],
  ].filter(([what]) => {
    try {
      execFileSync(what!.startsWith('/') ? 'test' : 'which', what!.startsWith('/') ? ['-e', what!] : [what!]);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  const packages = missing.map(([, pkg]) => pkg!);
  process.stderr.write(`bench: installing ${packages.join(' ')}\n`);
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}
