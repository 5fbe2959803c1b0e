// CGI per-request time: wsgikit's wsgi-cgi (one-shot and daemon mode) next to Python's own
// wsgiref.handlers.CGIHandler, on a hello app and a Flask app. Each CGI program is run the way a
// web server runs it (a clean CGI environment, stdout read to the end), sequentially, in
// interleaved rounds so a busy machine slows every target alike; only ratios within one run mean
// anything. The server's own cost (Apache's fork and pipes) is the same for all and left out here.

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON, ROOT, median, type Row } from './common.js';

const WSGI_CGI = join(ROOT, 'dist/wsgi-cgi.cjs');

const APPS: Record<string, string> = {
  hello: `
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])
    return [b'Hello world\\n']
`,
  flask: `
from flask import Flask
app = Flask(__name__)

@app.route('/')
def index():
    return 'Hello from Flask'

application = app
`,
};

interface Target {
  name: string;
  command: string[];
  env: Record<string, string>;
}

export async function benchCgi(rounds: number, perRound: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [appName, source] of Object.entries(APPS)) {
    if (appName === 'flask' && !(await hasFlask())) continue;
    const targets = makeTargets(appName, source);
    for (const target of targets) await time(target); // warm-up: starts the daemon, fills caches
    const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const target of targets) {
        for (let i = 0; i < perRound; i++) samples.get(target.name)!.push(await time(target));
      }
    }
    const reference = median(samples.get('wsgiref CGIHandler')!);
    for (const target of targets) {
      const ms = median(samples.get(target.name)!);
      rows.push({
        workload: `CGI ${appName}`,
        target: target.name,
        value: ms,
        unit: 'ms/request',
        ratio: ms / reference,
      });
    }
  }
  return rows;
}

function makeTargets(appName: string, source: string): Target[] {
  const root = mkdtempSync(join(tmpdir(), `wsgikit-bench-${appName}-`));
  chmodSync(root, 0o755);
  const www = join(root, 'www');
  mkdirSync(www, { mode: 0o755 });
  const hostSettings = join(root, 'host.toml');
  writeFileSync(hostSettings, `allowed_roots = ["${root}"]\n`);
  const target = (name: string, daemon: boolean): Target => {
    const dir = join(www, name.replace(/\W+/g, '-'));
    mkdirSync(dir, { mode: 0o755 });
    const app = join(dir, 'app.wsgi');
    writeFileSync(app, source, { mode: 0o644 });
    writeFileSync(app + '.toml', `log_dir = "${root}/logs"\ncgi_daemon = ${daemon}\nidle_timeout = 600\n`);
    return {
      name,
      command: [process.execPath, WSGI_CGI, '--host-settings', hostSettings],
      env: cgiEnv(app, www),
    };
  };
  // The anchor: the documented way to run a WSGI app as CGI with the standard library.
  const anchorDir = join(www, 'wsgiref');
  mkdirSync(anchorDir, { mode: 0o755 });
  writeFileSync(join(anchorDir, 'app_module.py'), source);
  const script = join(anchorDir, 'app.cgi');
  writeFileSync(
    script,
    `#!${PYTHON}\nfrom wsgiref.handlers import CGIHandler\nfrom app_module import application\nCGIHandler().run(application)\n`,
    { mode: 0o755 },
  );
  return [
    { name: 'wsgiref CGIHandler', command: [script], env: cgiEnv(script, www) },
    target('wsgi-cgi one-shot', false),
    target('wsgi-cgi daemon', true),
  ];
}

function cgiEnv(script: string, docroot: string): Record<string, string> {
  // What Apache under suEXEC passes: no NODE_EXTRA_CA_CERTS, no HOME, the safe PATH.
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'Apache/2.4',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    REQUEST_METHOD: 'GET',
    QUERY_STRING: '',
    REQUEST_URI: '/app.wsgi/',
    SCRIPT_NAME: '/app.wsgi',
    PATH_INFO: '/',
    SCRIPT_FILENAME: script,
    DOCUMENT_ROOT: docroot,
  };
}

function time(target: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(target.command[0]!, target.command.slice(1), {
      env: target.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0 || !/^(Status: 200|Content-Type)/m.test(out)) {
        reject(new Error(`${target.name} failed (exit ${code}):\n${out.slice(0, 500)}`));
      } else {
        resolve(ms);
      }
    });
  });
}

function hasFlask(): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ['-c', 'import flask'], { stdio: 'ignore' });
    child.once('close', (code) => resolve(code === 0));
    child.once('error', () => resolve(false));
  });
}
