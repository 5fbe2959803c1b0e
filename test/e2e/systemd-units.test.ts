// The systemd units of docs/systemd.md, run as systemd would run them. systemd is not running
// here, so: `systemd-analyze verify` checks the units' syntax; `systemd-socket-activate` plays the
// .socket (it listens on ListenStream and, on the first connection, execs the service with
// LISTEN_FDS=1 and the socket on fd 3); `setpriv` plays User= and NoNewPrivileges=; the test sends
// ExecReload and KillSignal itself. nginx, from the page's block, is in front.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/wsgi-run.js';
import {
  NODE,
  WSGI_FCGI,
  configFromGuide,
  curl,
  e2eDir,
  findBinary,
  freePort,
  groupId,
  isRoot,
  removeTempDirs,
  startNginx,
  userIds,
  type WebServer,
} from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';
import { SERVICE_NODE_FLAGS } from '../../src/install-paths.js';

const GUIDE = 'systemd.md';
const ACTIVATE = '/usr/bin/systemd-socket-activate';
const available =
  isRoot() &&
  findBinary('nginx') !== null &&
  existsSync(ACTIVATE) &&
  findBinary('setpriv') !== null &&
  findBinary('useradd') !== null &&
  groupId('www-data') !== null;
const analyze = findBinary('systemd-analyze');

/** A unit file: section → [key, value] in order (keys may repeat). */
type Unit = Map<string, Array<[string, string]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Array<[string, string]> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === null || eq === -1) throw new Error(`not a unit line: ${line}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

function value(unit: Unit, section: string, key: string): string {
  const found = unit.get(section)?.filter(([k]) => k === key) ?? [];
  if (found.length !== 1) throw new Error(`[${section}] ${key}: expected one, found ${found.length}`);
  return found[0]![1];
}

interface Service {
  child: ChildProcess;
  pid: number;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
}

interface Seen {
  pid: number;
  ppid: number;
  uid: number;
  path: string;
}

describe.skipIf(!available)('systemd units: wsgi-fcgi@.socket + wsgi-fcgi@.service (docs/systemd.md)', () => {
  const user = `wsgisd${process.pid % 100000}`;
  const home = `/home/${user}`;
  const gates = join(home, 'gates');
  let created = false;
  let dir: string;
  let socketText: string;
  let serviceText: string;
  let socketUnit: Unit;
  let serviceUnit: Unit;
  let listenStream: string;
  let service: Service;
  let nginx: WebServer;

  async function get(path: string): Promise<Seen> {
    const res = await curl(nginx.url + path);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}\n${res.body}`);
    return JSON.parse(res.body) as Seen;
  }

  beforeAll(async () => {
    dir = e2eDir('systemd');
    // The units as a host installs them, with the instance (%i) and the socket folder filled in.
    socketText = configFromGuide(GUIDE, 'wsgi-fcgi@.socket', [['%i', user]]);
    serviceText = configFromGuide(GUIDE, 'wsgi-fcgi@.service', [['%i', user]]);
    socketUnit = parseUnit(socketText);
    serviceUnit = parseUnit(serviceText);
    const run = join(dir, 'run');
    listenStream = value(socketUnit, 'Socket', 'ListenStream').replace(/^\/run\/wsgikit\//, `${run}/`);
    expect(listenStream).toBe(join(run, `${user}.sock`));
    mkdirSync(run, { mode: parseInt(value(socketUnit, 'Socket', 'DirectoryMode'), 8) });

    // The hosting user (%i) and an app in its public_html.
    execFileSync('useradd', ['-m', '-s', '/usr/sbin/nologin', user]);
    created = true;
    const ids = userIds(user)!;
    const www = join(home, 'public_html');
    for (const d of [www, gates]) {
      mkdirSync(d, { mode: 0o755 });
      chownSync(d, ids.uid, ids.gid);
    }
    const app = join(www, 'app.wsgi');
    writeFileSync(
      app,
      `import json, os, time
GATES = ${JSON.stringify(gates)}

def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path.startswith('/slow/'):
        name = path[len('/slow/'):]
        open(os.path.join(GATES, name + '.in'), 'w').close()
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(GATES, name + '.open')) and time.time() < deadline:
            time.sleep(0.05)
    body = json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'uid': os.getuid(), 'path': path}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
`,
      { mode: 0o644 },
    );
    chownSync(app, ids.uid, ids.gid);

    // The service's command line: no --listen (the socket comes from systemd), node and the
    // script path of a global npm install replaced by the ones built here.
    const [node = '', ...words] = value(serviceUnit, 'Service', 'ExecStart').split(/\s+/);
    expect(node).toMatch(/^\/.*\/node$/);
    const script = words.findIndex((word) => /\/wsgikit\/dist\/cli\/wsgi-fcgi\.js$/.test(word));
    expect(script).toBeGreaterThanOrEqual(0);
    const nodeFlags = words.slice(0, script);
    expect(nodeFlags).toEqual(SERVICE_NODE_FLAGS);
    const args = words.slice(script + 1);
    expect(args).not.toContain('--listen');
    expect(args).toEqual(['--root', www]);
    expect(value(serviceUnit, 'Service', 'User')).toBe(user);
    const noNewPrivs = value(serviceUnit, 'Service', 'NoNewPrivileges') === 'yes';

    // systemd-socket-activate listens now and execs setpriv → node on the first connection: one
    // pid throughout, so LISTEN_PID matches and signals to `pid` reach wsgi-fcgi.
    const child = spawn(
      ACTIVATE,
      [
        '-l',
        listenStream,
        findBinary('setpriv')!,
        `--reuid=${ids.uid}`,
        `--regid=${ids.gid}`,
        '--init-groups',
        ...(noNewPrivs ? ['--no-new-privs'] : []),
        '--',
        NODE,
        ...nodeFlags,
        WSGI_FCGI,
        ...args,
      ],
      {
        cwd: '/',
        // What systemd gives a system service with User=.
        env: {
          PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin',
          HOME: home,
          USER: user,
          LOGNAME: user,
          SHELL: '/usr/sbin/nologin',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    service = {
      child,
      pid: child.pid!,
      output: () => out,
      exit,
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    await eventually(() => existsSync(listenStream), 'the activated socket');
    // What systemd does with SocketUser=, SocketGroup= and SocketMode= before anyone connects.
    const owner = userIds(value(socketUnit, 'Socket', 'SocketUser'))!.uid;
    chownSync(listenStream, owner, groupId(value(socketUnit, 'Socket', 'SocketGroup'))!);
    chmodSync(listenStream, parseInt(value(socketUnit, 'Socket', 'SocketMode'), 8));

    const port = await freePort();
    const site = configFromGuide(GUIDE, 'nginx-systemd', [
      ['/run/wsgikit/alice.sock', listenStream],
      ['listen 80;', `listen 127.0.0.1:${port};`],
      ['/home/alice/public_html', www],
      ['alice', user],
    ]);
    nginx = await startNginx(dir, port, site);
  });

  afterAll(async () => {
    await nginx?.stop();
    if (service?.alive()) {
      service.child.kill('SIGKILL');
      await service.exit;
    }
    if (created) execFileSync('userdel', ['-r', user], { stdio: 'ignore' });
    removeTempDirs();
  });

  dumpLogsOnFailure(() => [
    ['nginx error log', nginx?.errorLog() ?? ''],
    ['wsgi-fcgi (activated)', service?.output() ?? ''],
  ]);

  it.skipIf(analyze === null)('both units pass systemd-analyze verify (no unknown keys, ExecStart exists)', () => {
    const units = join(dir, 'units');
    mkdirSync(units);
    const socketFile = join(units, `wsgi-fcgi@${user}.socket`);
    const serviceFile = join(units, `wsgi-fcgi@${user}.service`);
    writeFileSync(socketFile, socketText);
    // Only node's path is made this machine's, should it live elsewhere: verify checks it exists.
    writeFileSync(serviceFile, serviceText.replace(/^ExecStart=\S+/m, `ExecStart=${NODE}`));
    const result = spawnSync(analyze!, ['verify', '--man=no', socketFile, serviceFile], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    // Its complaints go to stderr; an unknown key is only a warning, so the text is what counts.
    const output = `${result.stdout}${result.stderr}`;
    expect(result.status, output).toBe(0);
    expect(output).not.toMatch(/Unknown (key|section)|Failed to parse|Invalid|not executable/i);
  });

  it('serves an app through nginx and the activated socket, as the unit’s user', async () => {
    const ids = userIds(user)!;
    const seen = await get('/app.wsgi/who');
    expect(seen).toMatchObject({ uid: ids.uid, path: '/who', ppid: service.pid });
    // wsgi-fcgi itself became the user (User=), and the socket is as the .socket unit says.
    expect(statSync(`/proc/${service.pid}`).uid).toBe(ids.uid);
    const st = statSync(listenStream);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, groupId('www-data'), 0o660]);
    expect(service.output()).toContain('wsgi-fcgi ready');
  });

  it('ExecReload (SIGHUP) recycles the workers without dropping a running request', async () => {
    const before = new Set<number>();
    for (let i = 0; i < 4; i++) before.add((await get('/app.wsgi/who')).pid);
    const slow = get('/app.wsgi/slow/reload');
    await eventually(() => existsSync(join(gates, 'reload.in')), 'the slow request to start');

    const reload = value(serviceUnit, 'Service', 'ExecReload').replace('$MAINPID', String(service.pid)).split(/\s+/);
    execFileSync(reload[0]!, reload.slice(1));
    await eventually(() => service.output().includes('SIGHUP'), 'wsgi-fcgi to log the SIGHUP');

    const after = await get('/app.wsgi/who');
    expect(before.has(after.pid)).toBe(false);
    expect(after.ppid).toBe(service.pid);

    writeFileSync(join(gates, 'reload.open'), '');
    const finished = await slow;
    expect(before.has(finished.pid)).toBe(true);
    expect(service.alive()).toBe(true);
  });

  it('KillSignal (SIGTERM) lets the running request finish, then the service exits 0', async () => {
    const slow = get('/app.wsgi/slow/stop');
    await eventually(() => existsSync(join(gates, 'stop.in')), 'the slow request to start');

    process.kill(service.pid, value(serviceUnit, 'Service', 'KillSignal') as NodeJS.Signals);
    await eventually(() => service.output().includes('stopping: finishing requests in flight'), 'the drain');
    // The request is held by its gate: the service cannot have gone.
    expect(service.alive()).toBe(true);

    writeFileSync(join(gates, 'stop.open'), '');
    expect((await slow).path).toBe('/slow/stop');
    expect(await service.exit).toEqual({ code: 0, signal: null });
    rmSync(join(gates, 'stop.open'));
  });
});
