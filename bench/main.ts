// npm run bench: every workload (or those BENCH_ONLY names), every target, one run; prints the
// Markdown table and the targets, and writes them with the raw rows to bench/results/.
// Knobs: BENCH_ROUNDS (5), BENCH_PER_ROUND (10), BENCH_SECONDS (5), BENCH_ONLY (a comma list of
// workloads or groups: cgi, fcgi, head-of-line, upload, download, memory, …).

import { execFileSync } from 'node:child_process';
import { cleanUpDirs } from './apps.js';
import { benchCgi } from './cgi.js';
import { log, type Row } from './common.js';
import { benchFastcgi } from './fastcgi.js';
import { benchHeadOfLine } from './head-of-line.js';
import { benchMemory } from './memory.js';
import { writeReport } from './report.js';
import { stopServers } from './targets.js';
import { benchTransfer } from './transfer.js';

// Web servers do not pass it to CGI programs, and it slows Node's start: no process we start has it.
delete process.env.NODE_EXTRA_CA_CERTS;

ensureTools();
const started = new Date();
const rows: Row[] = [];
const stop = async () => {
  await stopServers();
  cleanUpDirs();
};
process.once('SIGINT', () => void stop().then(() => process.exit(130)));
try {
  for (const part of [benchCgi, benchFastcgi, benchMemory, benchHeadOfLine, benchTransfer]) {
    try {
      rows.push(...(await part()));
    } catch (error) {
      // One broken part must not lose the others' rows: it gets a row saying what failed.
      const message = (error as Error).message;
      log(`${part.name} failed: ${message}`);
      const note = `failed: ${message.split('\n')[0]!.slice(0, 200).replace(/\|/g, '/')}`;
      rows.push({ workload: part.name, target: '', value: NaN, unit: '', ratio: NaN, note });
    }
  }
} finally {
  await stop();
}
process.stdout.write(writeReport(rows, started, (Date.now() - started.getTime()) / 1000));
log('wrote bench/results/latest.md and latest.json');

/** On a fresh machine: the servers, anchors and load tools, from Debian (as root, like .ci/run). */
function ensureTools(): void {
  const missing = [
    ['wrk', 'wrk'],
    ['curl', 'curl'],
    ['/usr/sbin/nginx', 'nginx-light'],
    ['/usr/sbin/apache2', 'apache2'],
    ['/usr/lib/apache2/modules/mod_fcgid.so', 'libapache2-mod-fcgid'],
    ['/usr/lib/apache2/modules/mod_wsgi.so', 'libapache2-mod-wsgi-py3'],
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
  log(`installing ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env, timeout: 300_000 });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env,
    timeout: 600_000,
  });
}
