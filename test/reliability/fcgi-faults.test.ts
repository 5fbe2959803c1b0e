// Faults through the real wsgi-fcgi (built, on a Unix socket, hosting mode, serving as the
// unprivileged user "nobody" so that file permissions bite as on a host): a worker killed
// mid-request, overload at 10× the workers, a client gone mid-upload, header injection from the
// app, what a stranger's error page may show across every error kind, owner-only files, log
// folders that cannot be written, a full log, a .wsgi deleted while served, symlinks and
// other-writable files, a log that would land under the document root.
//
// One wsgi-fcgi for the whole file; each app its own .wsgi in one --root with its own settings.

import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  readdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/wsgi-run.js';
import { INCIDENT, isRoot, removeTempDirs, startWsgiFcgi, userIds, type WsgiFcgi } from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';
import { HostingRoot, childrenOf, fcgi, fcgiParams, rssKb, sleep, until, type FcgiAnswer } from './lib.js';

const USER = 'nobody';
const available = isRoot() && userIds(USER) !== null && existsSync('/usr/bin/python3');

const MAIN = `
import hashlib, os, sys, time

SECRET = 'secret-exception-7q'

def wait_for(gate):
    deadline = time.time() + 20
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.01)

class Upload(object):
    def __init__(self, stream):
        self.stream = stream
    def __iter__(self):
        digest, total = hashlib.sha256(), 0
        print('upload started %d' % os.getpid())
        sys.stdout.flush()
        try:
            while True:
                block = self.stream.read(65536)
                if not block:
                    break
                total += len(block)
                digest.update(block)
        except Exception as error:
            print('upload read raised %s' % type(error).__name__)
            sys.stdout.flush()
            raise
        yield ('%d %s' % (total, digest.hexdigest())).encode()
    def close(self):
        print('upload closed %d' % os.getpid())
        sys.stdout.flush()

def application(environ, start_response):
    path = environ['PATH_INFO']
    query = dict(p.split('=', 1) for p in environ['QUERY_STRING'].split('&') if '=' in p)
    if path == '/wait':
        print('waiting %s %d' % (query.get('id'), os.getpid()))
        sys.stdout.flush()
        wait_for(query['gate'])
    elif path == '/boom':
        raise RuntimeError(SECRET + ' ' + os.environ.get('SECRET_ENV', ''))
    elif path == '/crlf':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Evil', 'a\\r\\nSet-Cookie: injected=1')])
        return [b'must not be sent']
    elif path == '/lf':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Evil', 'a\\nLocation: http://evil.example/')])
        return [b'must not be sent']
    elif path == '/badstatus':
        start_response('two hundred', [('Content-Type', 'text/plain')])
        return [b'x']
    elif path == '/kill':
        os.kill(os.getpid(), 9)
    elif path == '/upload':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Upload(environ['wsgi.input'])
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %s %d' % (path, query.get('id', '-'), os.getpid())).encode()]
`;

const SIMPLE = `
import os, sys
def application(environ, start_response):
    if environ['PATH_INFO'] == '/spam':
        for i in range(int(environ['QUERY_STRING'] or 1)):
            print('spam line %05d %s' % (i, 'x' * 150))
        sys.stdout.flush()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('ok %d' % os.getpid()).encode()]
`;

const STUCK = `
def spinning_forever_here():
    while True:
        pass

def application(environ, start_response):
    if environ['PATH_INFO'] == '/stuck':
        spinning_forever_here()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
`;

const BROKEN = 'import no_such_secret_module_q7\n';

describe.skipIf(!available)('wsgi-fcgi under faults (hosting mode, as nobody)', () => {
  let root: HostingRoot;
  let server: WsgiFcgi;
  let socket: string;
  const apps: Record<string, string> = {};
  let faults = 0;

  const req = (
    app: string,
    path: string,
    query = '',
    extra: Record<string, string> = {},
    stdin: Buffer | null = null,
  ) => fcgi(socket, fcgiParams(apps[app]!, path, extra, query), stdin);

  /** Idle workers of an app, from its status JSON (as the owner). */
  async function idleWorkers(app: string): Promise<number> {
    const res = await req(app, '/.wsgikit/status', 'format=json', { REMOTE_ADDR: '127.0.0.1' });
    const snapshot = JSON.parse(res.body.toString()) as { workers: Array<{ state: string }> };
    return snapshot.workers.filter((w) => w.state === 'idle').length;
  }

  beforeAll(async () => {
    root = new HostingRoot('rel-fcgi', USER);
    const env = '[env]\nSECRET_ENV = "env-secret-value-5k"\n';
    apps.main = root.add(
      'main',
      MAIN,
      `processes = 2\nmin_processes = 2\nqueue_size = 4\nowner_addresses = ["127.0.0.1"]\n${env}`,
    );
    apps.simple = root.add('simple', SIMPLE, 'processes = 1\n');
    apps.rotating = root.add('rotating', SIMPLE, 'processes = 1\nlog_max_mb = 0.01\nlog_keep = 2\n');
    apps.stuck = root.add('stuck', STUCK, `processes = 1\nrequest_timeout = 1\n${env}`);
    apps.tiny = root.add('tiny', MAIN, `processes = 1\nqueue_size = 0\nmax_body_mb = 1\n${env}`);
    apps.broken = root.add('broken', BROKEN, `reload_check_interval = 0\n${env}`);
    apps.ephemeral = root.add('ephemeral', SIMPLE, 'processes = 1\nreload_check_interval = 0\n');
    apps.nolog = root.add('nolog', SIMPLE, 'processes = 1\n');
    apps.lateNolog = root.add('late-nolog', SIMPLE, 'processes = 1\n');
    apps.open = root.add('open', SIMPLE);
    apps.exposed = root.add('exposed', SIMPLE);
    apps.fresh = root.add('fresh', SIMPLE, 'processes = 1\n');
    // Not writable by the user from the start.
    chmodSync(root.logDir('nolog'), 0o500);
    // A log folder wsgikit has to create itself.
    writeFileSync(`${apps.fresh}.toml`, `log_dir = ${JSON.stringify(join(root.logDir('fresh'), 'made', 'here'))}\n`);
    chownSync(root.logDir('fresh'), userIds(USER)!.uid, userIds(USER)!.gid);
    chmodSync(root.logDir('fresh'), 0o755);
    socket = join(root.dir, 'fcgi.sock');
    server = await startWsgiFcgi(socket, ['--root', root.dir, '--user', USER]);
  });

  afterAll(async () => {
    await server?.stop();
    console.log(`[reliability] fcgi-faults: faults injected ${faults}`);
    removeTempDirs();
  });

  dumpLogsOnFailure(() => [
    ['wsgi-fcgi', server?.output() ?? ''],
    ['main log', root?.log('main') ?? ''],
  ]);

  it('a worker killed mid-request (SIGKILL): 502 with an incident in the log, the other request unaffected, a new worker next', async () => {
    const gates = [join(root.dir, 'gate-kill-a'), join(root.dir, 'gate-kill-b')];
    const a = req('main', '/wait', `id=ka&gate=${gates[0]}`);
    const b = req('main', '/wait', `id=kb&gate=${gates[1]}`);
    const waiting = await eventually(() => {
      const ka = / waiting ka (\d+)/.exec(root.log('main'));
      const kb = / waiting kb (\d+)/.exec(root.log('main'));
      return ka && kb ? [Number(ka[1]), Number(kb[1])] : null;
    }, 'both requests running');
    process.kill(waiting[0]!, 'SIGKILL');
    faults++;
    const killed = await a;
    expect(killed.status).toBe(502);
    const incident = INCIDENT.exec(killed.body.toString())?.[0];
    expect(incident).toBeTruthy();
    await eventually(() => root.log('main').includes(`incident ${incident}`), 'the incident in the log');
    expect(root.log('main')).toMatch(
      new RegExp(`incident ${incident}: .*pid ${waiting[0]}\\) was killed by SIGKILL during the request`),
    );
    // The other request, on the other worker, carries on and completes.
    writeFileSync(gates[1]!, '');
    const other = await b;
    expect(other.status).toBe(200);
    expect(other.body.toString()).toBe(`/wait kb ${waiting[1]}`);
    const next = await req('main', '/pid');
    expect(next.status).toBe(200);
    expect(Number(next.body.toString().split(' ')[2])).not.toBe(waiting[0]);
  });

  it('overload: 20 concurrent requests on 2 workers + a queue of 4 → 6 served, 14 fast 503s, each answered once; RSS flat; then all 200', async () => {
    const rss: number[] = [];
    let served = 0;
    let refused = 0;
    for (let round = 0; round < 3; round++) {
      const gate = join(root.dir, `gate-burst-${round}`);
      // Both workers up and idle, so that the bound is exact: 2 running + 4 waiting.
      await until(async () => (await idleWorkers('main')) === 2, 'two idle workers');
      const answers = new Map<number, FcgiAnswer[]>();
      const order: number[] = [];
      const pending = Array.from({ length: 20 }, (_, i) =>
        req('main', '/wait', `id=r${round}n${i}&gate=${gate}`).then((answer) => {
          answers.set(i, [...(answers.get(i) ?? []), answer]);
          order.push(i);
          return answer;
        }),
      );
      // 14 answers arrive while the gate is shut: they cannot be the slow ones.
      await eventually(() => order.length >= 14, `round ${round}: the 503s`);
      // The other 6 cannot answer while the gate is shut: give them time to show they do not.
      await sleep(300);
      expect(order).toHaveLength(14);
      const early = order.map((i) => answers.get(i)![0]!);
      expect(early.map((a) => a.status)).toEqual(Array(14).fill(503));
      for (const answer of early) expect(answer.head).toMatch(/Retry-After: \d+/i);
      expect(existsSync(gate)).toBe(false);
      writeFileSync(gate, '');
      const all = await Promise.all(pending);
      // Every request answered exactly once, 200s echoing their own id.
      expect([...answers.values()].every((list) => list.length === 1)).toBe(true);
      const ok = all.map((a, i) => [a, i] as const).filter(([a]) => a.status === 200);
      expect(ok).toHaveLength(6);
      for (const [a, i] of ok) expect(a.body.toString()).toMatch(new RegExp(`^/wait r${round}n${i} \\d+$`));
      expect(all.filter((a) => a.status === 503)).toHaveLength(14);
      expect(all.every((a) => a.how === 'ok')).toBe(true);
      served += 6;
      refused += 14;
      rss.push(rssKb(server.pid));
    }
    // Memory stays flat across the rounds (Node's own heap wobbles a few MB).
    expect(Math.max(...rss) - Math.min(...rss)).toBeLessThan(30 * 1024);
    expect(Math.max(...rss)).toBeLessThan(200 * 1024);
    // Recovered: a burst within capacity is all 200.
    const after = await Promise.all(Array.from({ length: 6 }, (_, i) => req('main', '/pid', `id=after${i}`)));
    expect(after.map((a) => a.status)).toEqual(Array(6).fill(200));
    expect(served + refused).toBe(60);
    faults += 3;
  });

  it('a client gone mid-upload: the app’s read raises, close() is called, the worker serves the next request', async () => {
    const body = new PassThrough();
    const pending = fcgi(
      socket,
      fcgiParams(apps.main!, '/upload', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(4 * 1024 * 1024) }),
      body,
    );
    body.write(Buffer.alloc(256 * 1024, 1));
    await eventually(() => /upload started \d+/.test(root.log('main')), 'the app reading the body');
    // The web server's connection closes while STDIN is still streaming.
    body.destroy(new Error('client went away'));
    faults++;
    const cut = await pending;
    expect(cut.how).not.toBe('ok');
    const log = await eventually(() => {
      const text = root.log('main');
      return /upload read raised \w+/.test(text) && /upload closed \d+/.test(text) ? text : null;
    }, 'the read to raise and close() to run');
    expect(log).toContain('upload read raised ClientDisconnected');
    const closedPid = Number(/upload closed (\d+)/.exec(log)![1]);
    const pids = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const next = await req('main', '/pid');
      expect(next.status).toBe(200);
      pids.add(Number(next.body.toString().split(' ')[2]));
    }
    // The worker that ran the upload went back to the pool and serves again.
    expect(pids.has(closedPid) || childrenOf(server.pid).includes(closedPid)).toBe(true);
  });

  it('header injection from the app (CR/LF in a header value) is refused: 500, the reason in the log, nothing injected', async () => {
    for (const path of ['/crlf', '/lf']) {
      const res = await req('main', path);
      expect(res.status).toBe(500);
      expect(res.head).not.toMatch(/Set-Cookie|Location|X-Evil/i);
      expect(res.body.toString()).not.toContain('must not be sent');
      const incident = INCIDENT.exec(res.body.toString())![0];
      await eventually(
        () => new RegExp(`incident ${incident}: .*header X-Evil has a CR, LF or NUL`).test(root.log('main')),
        'the reason in the log',
      );
    }
    expect((await req('main', '/pid')).status).toBe(200);
  });

  it('a stranger’s page shows no traceback, path, Python version or environment, for every error kind', async () => {
    const pyVersion = execFileSync('/usr/bin/python3', ['-c', 'import sys; print(sys.version.split()[0])'], {
      encoding: 'utf8',
    }).trim();
    const secrets = [
      'Traceback',
      'secret-exception-7q',
      'no_such_secret_module_q7',
      'spinning_forever_here',
      'env-secret-value-5k',
      'X-Evil',
      root.dir,
      pyVersion,
      'CPython',
      '.wsgi',
      process.env.PATH ?? '/usr/bin',
    ];
    const gate = join(root.dir, 'gate-stranger');
    const holding = req('tiny', '/wait', `id=hold&gate=${gate}`);
    await eventually(() => / waiting hold /.test(root.log('tiny')), 'the tiny app busy');
    const kinds: Array<[string, Promise<FcgiAnswer>, number]> = [
      ['load failure', req('broken', '/'), 500],
      ['exception', req('main', '/boom'), 500],
      ['bad response', req('main', '/badstatus'), 500],
      ['header injection', req('main', '/crlf'), 500],
      ['crash', req('main', '/kill'), 502],
      ['timeout', req('stuck', '/stuck'), 504],
      ['overload', req('tiny', '/pid'), 503],
      ['body too large', req('tiny', '/pid', '', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(2 << 20) }), 413],
      ['not found', req('main', '/', '', { SCRIPT_FILENAME: join(root.dir, 'missing.wsgi') }), 404],
    ];
    for (const [kind, pending, status] of kinds) {
      const res = await pending;
      expect(res.status, kind).toBe(status);
      const page = res.body.toString();
      for (const secret of secrets) expect(page, `${kind} page shows ${secret}`).not.toContain(secret);
      expect(res.head).not.toContain(root.dir);
    }
    // The HTML page as a browser gets it, too.
    const html = await req('main', '/boom', '', { HTTP_ACCEPT: 'text/html' });
    expect(html.status).toBe(500);
    for (const secret of secrets) expect(html.body.toString()).not.toContain(secret);
    faults += kinds.length;
    writeFileSync(gate, '');
    await holding;
    // The same error for the owner (REMOTE_ADDR in owner_addresses) does show the detail: the
    // check above would see a leak.
    const owner = await req('main', '/boom', '', { REMOTE_ADDR: '127.0.0.1' });
    expect(owner.body.toString()).toContain('secret-exception-7q');
    // And the 504 put the stuck request's stack in the log.
    await eventually(() => root.log('stuck').includes('spinning_forever_here'), 'the stack of the stuck request');
  });

  it('an app that fails to import, then is fixed: 500 naming the incident in the log, the fix served without a restart', async () => {
    const res = await req('broken', '/');
    expect(res.status).toBe(500);
    const incident = INCIDENT.exec(res.body.toString())![0];
    await eventually(() => root.log('broken').includes(`incident ${incident}`), 'the incident');
    writeFileSync(apps.broken!, SIMPLE);
    const fixed = await until(
      async () => {
        const r = await req('broken', '/');
        return r.status === 200 ? r : null;
      },
      'the fixed app',
      5000,
    );
    expect(fixed.body.toString()).toMatch(/^ok \d+$/);
  });

  it('the socket is owner-only; log files 0600 in folders 0700, created so by wsgikit', async () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(socket).uid).toBe(userIds(USER)!.uid);
    expect((await req('fresh', '/')).status).toBe(200);
    const made = join(root.logDir('fresh'), 'made');
    const here = join(made, 'here');
    expect(statSync(made).mode & 0o777).toBe(0o700);
    expect(statSync(here).mode & 0o777).toBe(0o700);
    const files = readdirSync(here).filter((f) => f.endsWith('.log'));
    expect(files).toHaveLength(1);
    expect(statSync(join(here, files[0]!)).mode & 0o777).toBe(0o600);
    expect(statSync(join(here, files[0]!)).uid).toBe(userIds(USER)!.uid);
    for (const name of ['main', 'simple']) {
      for (const f of readdirSync(root.logDir(name))) {
        expect(statSync(join(root.logDir(name), f)).mode & 0o777).toBe(0o600);
      }
    }
  });

  it('a log folder not writable from the start: the reason reaches the server log, and the process keeps serving others', async () => {
    const res = await req('nolog', '/');
    faults++;
    // Decided: without its log the app is not run (its output and incidents would be lost); the
    // visitor gets a plain 500 and the server log the reason with the fix.
    expect(res.status).toBe(500);
    expect(res.body.toString()).not.toContain(root.logDir('nolog'));
    await eventually(
      () => server.output().includes('Cannot write the app log') && server.output().includes(root.logDir('nolog')),
      'the reason in the server log',
    );
    expect((await req('simple', '/')).status).toBe(200);
  });

  // The owner cannot read about a log that cannot be written in that log: the server log says so
  // (once a minute at most, not once per lost line).
  it('a log folder made unwritable after start, its file deleted: requests still served, no crash, and the server log says so', async () => {
    expect((await req('lateNolog', '/spam', '', {}, null)).status).toBe(200);
    const mark = server.output().length;
    chmodSync(root.logDir('late-nolog'), 0o500);
    for (const f of readdirSync(root.logDir('late-nolog'))) unlinkSync(join(root.logDir('late-nolog'), f));
    faults++;
    for (let i = 0; i < 5; i++) {
      const res = await fcgi(socket, fcgiParams(apps.lateNolog!, '/spam', {}, '3'));
      expect(res.status).toBe(200);
    }
    expect(server.output()).not.toMatch(/uncaught|unhandled/i);
    await eventually(
      () => /late-nolog.*log cannot be written|log cannot be written.*late-nolog/i.test(server.output().slice(mark)),
      'the write failure in the server log',
    );
    chmodSync(root.logDir('late-nolog'), 0o700);
  });

  it('a full log rotates at log_max_mb, keeps log_keep files, and every request is served', async () => {
    for (let i = 0; i < 8; i++) {
      const res = await fcgi(socket, fcgiParams(apps.rotating!, '/spam', {}, '40'));
      expect(res.status).toBe(200);
    }
    const files = readdirSync(root.logDir('rotating')).sort();
    const base = files.find((f) => f.endsWith('.log'))!;
    expect(files).toEqual([base, `${base}.1`, `${base}.2`]);
    for (const f of files) expect(statSync(join(root.logDir('rotating'), f)).size).toBeLessThan(16 * 1024);
  });

  it('a .wsgi deleted while served: 404 with the reason in the server log, no crash; recreated: served again', async () => {
    const first = await req('ephemeral', '/');
    expect(first.status).toBe(200);
    unlinkSync(apps.ephemeral!);
    faults++;
    const gone = await req('ephemeral', '/');
    expect(gone.status).toBe(404);
    expect(gone.body.toString()).not.toContain(root.dir);
    await eventually(() => server.output().includes(apps.ephemeral!), 'the reason in the server log');
    expect((await req('simple', '/')).status).toBe(200);
    writeFileSync(apps.ephemeral!, SIMPLE, { mode: 0o644 });
    const back = await until(
      async () => {
        const r = await req('ephemeral', '/');
        return r.status === 200 ? r : null;
      },
      'the recreated app',
      5000,
    );
    expect(back.body.toString()).toMatch(/^ok \d+$/);
  });

  it('refuses a .wsgi writable by others and a symlink out of the roots with 403, the reason in the server log', async () => {
    chmodSync(apps.open!, 0o666);
    const open = await req('open', '/');
    expect(open.status).toBe(403);
    expect(open.body.toString()).not.toContain(root.dir);
    await eventually(() => server.output().includes(`chmod go-w ${apps.open}`), 'the fix in the server log');

    const outside = new HostingRoot('rel-outside', USER);
    const target = outside.add('target', SIMPLE);
    const link = join(root.dir, 'link.wsgi');
    symlinkSync(target, link);
    const linked = await fcgi(socket, fcgiParams(link, '/'));
    expect(linked.status).toBe(403);
    expect(linked.body.toString()).not.toContain(outside.dir);
    await eventually(() => server.output().includes(outside.dir), 'the symlink reason in the server log');
    faults += 2;
  });

  it('refuses an app whose log would land under the document root, and writes no log there', async () => {
    const res = await req('exposed', '/', '', { DOCUMENT_ROOT: root.dir });
    expect(res.status).toBe(500);
    await eventually(() => server.output().includes('under the document root'), 'the reason in the server log');
    expect(readdirSync(root.logDir('exposed'))).toEqual([]);
  });

  it('is still the same process, serving', async () => {
    expect(rssKb(server.pid)).toBeGreaterThan(0);
    expect((await req('main', '/pid')).status).toBe(200);
  });
});
