// FastCGI behind nginx: wsgikit's wsgi-fcgi next to uWSGI's FastCGI mode (--fastcgi-socket), the
// same hello app, 2 Python processes each, nginx keeping its upstream connections where the
// backend allows (uWSGI closes them). wrk drives both in interleaved rounds; the table gives
// throughput ratios to uWSGI, p50/p99 latency, and CPU per request of each side's processes, read
// from /proc (the reference note node-hop.md measured the same way).

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, median, type Row } from './common.js';

const HELLO = `
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])
    return [b'Hello world\\n']
`;

interface Side {
  name: string;
  port: number;
  /** The processes whose CPU counts for this side (the front end and its workers). */
  pids(): number[];
}

export async function benchFastcgi(rounds: number, seconds: number): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-bench-fcgi-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'www'), { mode: 0o755 });
  writeFileSync(join(dir, 'www/hello.wsgi'), HELLO);
  writeFileSync(join(dir, 'www/hello.py'), HELLO);
  writeFileSync(join(dir, 'www/hello.wsgi.toml'), `log_dir = "${dir}/logs"\nprocesses = 2\nmin_processes = 2\n`);
  const children: ChildProcess[] = [];
  const start = (command: string, args: string[]) => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(command, args, { stdio: 'ignore', env });
    children.push(child);
    return child;
  };
  try {
    const wsgikit = start(process.execPath, [
      join(ROOT, 'dist/cli/wsgi-fcgi.js'),
      '--listen',
      join(dir, 'wk.sock'),
      '--app',
      join(dir, 'www/hello.wsgi'),
    ]);
    const uwsgi = start('uwsgi', [
      '--plugin',
      'python3',
      '--fastcgi-socket',
      join(dir, 'uw.sock'),
      '--wsgi-file',
      join(dir, 'www/hello.py'),
      '--master',
      '--processes',
      '2',
      '--disable-logging',
    ]);
    const [wkPort, uwPort] = [18000 + (process.pid % 1000), 19000 + (process.pid % 1000)];
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, wkPort, uwPort));
    const nginx = start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
    await waitFor(async () => (await get(wkPort)) && (await get(uwPort)));
    const sides: Side[] = [
      { name: 'wsgikit wsgi-fcgi', port: wkPort, pids: () => [wsgikit.pid!, ...childrenOf(wsgikit.pid!)] },
      { name: 'uWSGI --fastcgi-socket', port: uwPort, pids: () => [uwsgi.pid!, ...childrenOf(uwsgi.pid!)] },
    ];
    for (const side of sides) await wrk(side.port, 2); // warm-up
    const results = new Map<string, { rps: number[]; p50: number[]; p99: number[]; cpu: number[]; nginx: number[] }>(
      sides.map((s) => [s.name, { rps: [], p50: [], p99: [], cpu: [], nginx: [] }]),
    );
    for (let round = 0; round < rounds; round++) {
      for (const side of sides) {
        const pids = side.pids();
        const before = pids.map(cpuTicks);
        const nginxBefore = cpuTicks(nginx.pid!);
        const run = await wrk(side.port, seconds);
        const after = pids.map(cpuTicks);
        const r = results.get(side.name)!;
        r.rps.push(run.rps);
        r.p50.push(run.p50);
        r.p99.push(run.p99);
        r.cpu.push(((sum(after) - sum(before)) * 10_000) / run.requests); // ticks are 10 ms
        r.nginx.push(((cpuTicks(nginx.pid!) - nginxBefore) * 10_000) / run.requests);
      }
    }
    const reference = median(results.get('uWSGI --fastcgi-socket')!.rps);
    const rows: Row[] = [];
    for (const side of sides) {
      const r = results.get(side.name)!;
      const rps = median(r.rps);
      rows.push({
        workload: 'FastCGI hello via nginx',
        target: side.name,
        value: rps,
        unit: 'req/s',
        ratio: rps / reference,
      });
      rows.push({
        workload: 'FastCGI hello p50 / p99',
        target: side.name,
        value: median(r.p50),
        unit: `ms / ${median(r.p99).toFixed(2)} ms`,
        ratio: NaN,
      });
      rows.push({
        workload: 'FastCGI hello CPU/request',
        target: side.name,
        value: median(r.cpu),
        unit: `µs (+ nginx ${median(r.nginx).toFixed(0)} µs)`,
        ratio: NaN,
      });
    }
    return rows;
  } finally {
    for (const child of children) child.kill('SIGTERM');
  }
}

function nginxConf(dir: string, wkPort: number, uwPort: number): string {
  return `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/cbt; fastcgi_temp_path ${dir}/fct; proxy_temp_path ${dir}/pt; uwsgi_temp_path ${dir}/ut; scgi_temp_path ${dir}/st;
  upstream wk { server unix:${dir}/wk.sock; keepalive 16; }
  upstream uw { server unix:${dir}/uw.sock; }
  server { listen 127.0.0.1:${wkPort};
    location / { include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_FILENAME ${dir}/www/hello.wsgi;
      fastcgi_param SCRIPT_NAME ""; fastcgi_param PATH_INFO $uri; fastcgi_keep_conn on; fastcgi_pass wk; } }
  server { listen 127.0.0.1:${uwPort};
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass uw; } }
}
`;
}

interface WrkRun {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
}

function wrk(port: number, seconds: number): Promise<WrkRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t2', '-c16', `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`]);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('close', () => {
      const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
      const ms = (re: RegExp) => {
        const m = re.exec(out);
        if (!m) return NaN;
        const v = Number(m[1]);
        return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
      };
      const run = {
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        requests: num(/(\d+) requests in/),
        p50: ms(/50%\s+([\d.]+)(us|ms|s)/),
        p99: ms(/99%\s+([\d.]+)(us|ms|s)/),
      };
      if (!(run.requests > 0) || /Non-2xx/.test(out)) reject(new Error(`wrk on port ${port} failed:\n${out}`));
      else resolve(run);
    });
  });
}

function get(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/`).then(
    (r) => r.ok,
    () => false,
  );
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the FastCGI benchmark servers did not come up');
}

function cpuTicks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
