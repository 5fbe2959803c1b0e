// npm run bench: every workload, every target, one run; prints a Markdown table of medians and
// ratios to the reference target and writes it with the raw rows to bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchCgi } from './cgi.js';
import { ROOT, type Row } from './common.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const perRound = Number(process.env.BENCH_PER_ROUND ?? 10);
delete process.env.NODE_EXTRA_CA_CERTS; // web servers do not pass it to CGI programs; it slows Node's start

const rows: Row[] = [...(await benchCgi(rounds, perRound))];

const lines = [
  `# wsgikit benchmark (${new Date().toISOString()})`,
  '',
  `${rounds} interleaved rounds × ${perRound} requests per target; medians; ratio = target / reference (lower is faster).`,
  '',
  '| workload | target | median | ratio |',
  '|---|---|---|---|',
  ...rows.map((r) => `| ${r.workload} | ${r.target} | ${r.value.toFixed(1)} ${r.unit} | ${r.ratio.toFixed(2)}× |`),
];
const table = lines.join('\n') + '\n';
process.stdout.write(table);
const dir = join(ROOT, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'latest.md'), table);
writeFileSync(join(dir, 'latest.json'), JSON.stringify({ rounds, perRound, rows }, null, 2) + '\n');
