// Faults through wsgi-cgi in daemon mode, run as a web server runs it (CGI variables, stdin,
// stdout): a Python worker of the daemon killed mid-request (502 with an incident, the daemon and
// its other requests unaffected, a new worker next), and the daemon's socket and the app's log
// owner-only.

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homeOf } from '../../src/app/locate.js';
import { daemonPaths } from '../../src/cgi/daemon.js';
import { eventually } from '../helpers/wsgi-run.js';
import { INCIDENT } from '../helpers/servers.js';

const WSGI_CGI = fileURLToPath(new URL('../../dist/wsgi-cgi.cjs', import.meta.url));

const APP = `
import os, sys, time
def application(environ, start_response):
    path = environ['PATH_INFO']
    gate = environ['QUERY_STRING'][len('gate='):]
    if path == '/wait':
        print('waiting %s %d' % (gate, os.getpid()))
        sys.stdout.flush()
        deadline = time.time() + 20
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.01)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %d' % (path, os.getpid())).encode()]
`;

interface CgiResult {
  status: number;
  body: string;
}

describe('wsgi-cgi daemon mode under faults', () => {
  let root: string;
  let app: string;
  let logs: string;
  let hostSettings: string;
  const log = () =>
    readdirSync(logs)
      .filter((f) => f.endsWith('.log'))
      .map((f) => readFileSync(join(logs, f), 'utf8'))
      .join('');

  function cgi(path: string, query = ''): Promise<CgiResult> {
    const env: Record<string, string> = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_SOFTWARE: 'Apache/2.4',
      SERVER_NAME: 'localhost',
      SERVER_PORT: '80',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '192.0.2.10',
      REQUEST_METHOD: 'GET',
      // With a "=" in it: a query without one would come with search words as arguments (RFC 3875 §4.4).
      QUERY_STRING: `gate=${query}`,
      DOCUMENT_ROOT: join(root, 'www'),
      SCRIPT_NAME: '/app.wsgi',
      SCRIPT_FILENAME: app,
      PATH_INFO: path,
      REQUEST_URI: `/app.wsgi${path}`,
      HTTP_ACCEPT: 'text/plain',
    };
    const child = spawn(process.execPath, [WSGI_CGI, '--host-settings', hostSettings], { env });
    let out = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (out += d));
    child.stdin.end();
    return new Promise((resolve) => {
      child.once('close', () => {
        const split = out.indexOf('\r\n\r\n');
        const status = /^Status: (\d{3})/m.exec(out.slice(0, split));
        resolve({ status: status ? Number(status[1]) : 200, body: out.slice(split + 4) });
      });
    });
  }

  const daemonPids = () => [...log().matchAll(/"pid":(\d+),"name":"wsgi-fcgi","listen"/g)].map((m) => Number(m[1]));

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'wsgikit-rel-cgi-'));
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'www'), { mode: 0o755 });
    logs = join(root, 'logs');
    app = join(root, 'www', 'app.wsgi');
    writeFileSync(app, APP, { mode: 0o644 });
    writeFileSync(`${app}.toml`, `log_dir = "${logs}"\nidle_timeout = 30\nprocesses = 2\nmin_processes = 2\n`);
    hostSettings = join(root, 'host.toml');
    writeFileSync(hostSettings, `allowed_roots = ["${root}"]\n`);
  });

  afterAll(() => {
    for (const pid of daemonPids()) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone already
      }
    }
  });

  it('a worker of the daemon killed mid-request: 502 with an incident; the other request and the daemon live on', async () => {
    expect((await cgi('/warm')).status).toBe(200);
    const [daemon] = daemonPids();
    expect(daemon).toBeGreaterThan(0);
    const gates = [join(root, 'gate-a'), join(root, 'gate-b')];
    const a = cgi('/wait', gates[0]);
    const b = cgi('/wait', gates[1]);
    const pids = await eventually(() => {
      const pa = new RegExp(`waiting ${gates[0]} (\\d+)`).exec(log());
      const pb = new RegExp(`waiting ${gates[1]} (\\d+)`).exec(log());
      return pa && pb ? [Number(pa[1]), Number(pb[1])] : null;
    }, 'both requests running');
    process.kill(pids[0]!, 'SIGKILL');
    const killed = await a;
    expect(killed.status).toBe(502);
    const incident = INCIDENT.exec(killed.body)?.[0];
    expect(incident).toBeTruthy();
    expect(log()).toContain(`incident ${incident}`);
    writeFileSync(gates[1]!, '');
    expect(await b).toEqual({ status: 200, body: `/wait ${pids[1]}` });
    const next = await cgi('/next');
    expect(next.status).toBe(200);
    expect(Number(next.body.split(' ')[1])).not.toBe(pids[0]);
    // Still the same daemon: only the worker was replaced.
    expect(daemonPids()).toEqual([daemon]);
    process.kill(daemon!, 0);
  });

  it("keeps the daemon's socket 0600 in a 0700 folder, and the app's log 0600 in a 0700 folder", async () => {
    const home = homeOf(process.getuid!());
    const python = /by \S+ [\d.]+ \((\/[^)]+)\)/.exec(log())?.[1] ?? '/usr/bin/python3';
    const { socket } = daemonPaths(home, app, python);
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(socket, '..')).mode & 0o777).toBe(0o700);
    expect(statSync(logs).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(logs)) expect(statSync(join(logs, f)).mode & 0o777, f).toBe(0o600);
  });
});
