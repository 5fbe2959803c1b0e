// wsgi-fcgi as a process: how it listens (fd 0 from spawn-fcgi, a Unix socket, TCP with an
// address allowlist), how it stops and reloads (SIGTERM drains, SIGHUP recycles), and how it
// treats aborts, malformed records and apps outside its roots. The client is our own FastCGI
// client (the codec tests prove it against libfcgi's cgi-fcgi).

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectResponse,
  fastcgiRequest,
  type FastcgiEnd,
  type FastcgiResponse,
  type FastcgiTarget,
} from '../../src/fastcgi/client.js';
import { abortRequest } from '../../src/fastcgi/protocol.js';
import { connectDaemon, relay } from '../../src/cgi/daemon.js';
import { memoryOf } from '../helpers/pythons.js';
import { appFolder, eventually, streamedBody, type AppFolder } from '../helpers/wsgi-run.js';

const WSGI_FCGI = fileURLToPath(new URL('../../dist/cli/wsgi-fcgi.js', import.meta.url));

const APP = `
import os, sys, time

class Endless(object):
    def __iter__(self):
        while True:
            yield b'x' * 1024
            time.sleep(0.01)
    def close(self):
        print('endless closed')
        sys.stdout.flush()

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/slow':
        gate = environ['QUERY_STRING']
        print('slow started')
        sys.stdout.flush()
        while not os.path.exists(gate):
            time.sleep(0.02)
    if path == '/upload':
        print('upload reading')
        sys.stdout.flush()
        try:
            environ['wsgi.input'].read(100000)
        except Exception:
            print('upload broke off')
            sys.stdout.flush()
            raise
    if path == '/endless':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return Endless()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %d %d' % (path, os.getpid(), os.getuid())).encode()]
`;

interface Daemon {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startFcgi(
  args: string[],
  env: Record<string, string> = {},
  command = process.execPath,
  pre: string[] = [],
): Daemon {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.NODE_EXTRA_CA_CERTS;
  const child = spawn(command, [...pre, WSGI_FCGI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** A wsgi-fcgi --app serving `source` on a socket in its folder for the enclosing describe. */
function serveFixedApp(
  source: string,
  settings: Record<string, string | number | boolean>,
  name: string,
): { folder: AppFolder; daemon: Daemon; socket: string } {
  const served = {} as { folder: AppFolder; daemon: Daemon; socket: string };
  beforeAll(async () => {
    served.folder = appFolder(source, settings);
    served.socket = join(served.folder.dir, name);
    served.daemon = startFcgi(['--listen', served.socket, '--app', served.folder.app]);
    await ready(served.daemon);
  });
  afterAll(async () => {
    served.daemon.child.kill('SIGTERM');
    await served.daemon.exited;
  });
  return served;
}

async function ready(daemon: Daemon): Promise<void> {
  await eventually(() => daemon.output().includes('wsgi-fcgi ready') || daemon.child.exitCode !== null, 'ready');
  if (daemon.child.exitCode !== null) throw new Error(`wsgi-fcgi exited:\n${daemon.output()}`);
}

function params(folder: AppFolder, path: string, query = ''): Record<string, string> {
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: 'GET',
    SCRIPT_FILENAME: folder.app,
    SCRIPT_NAME: '/app.wsgi',
    PATH_INFO: path,
    QUERY_STRING: query,
    REQUEST_URI: `/app.wsgi${path}${query ? '?' + query : ''}`,
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    HTTP_ACCEPT: 'text/plain',
  };
}

async function get(target: FastcgiTarget, p: Record<string, string>): Promise<{ status: number; body: string }> {
  const result = await collectResponse(fastcgiRequest(target, { params: p }));
  const text = result.stdout.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  const status = /^Status: (\d{3})/m.exec(text.slice(0, split));
  return { status: status ? Number(status[1]) : 200, body: text.slice(split + 4) };
}

describe('wsgi-fcgi on a Unix socket, hosting mode', () => {
  let folder: AppFolder;
  let daemon: Daemon;
  let socket: string;
  beforeAll(async () => {
    folder = appFolder(APP, { processes: 2 });
    socket = join(folder.dir, 'fcgi.sock');
    daemon = startFcgi(['--listen', socket, '--root', folder.dir]);
    await ready(daemon);
  });
  afterAll(async () => {
    if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
    await daemon.exited;
  });

  it('creates the socket owner-only and serves the .wsgi SCRIPT_FILENAME names', async () => {
    const mode = execFileSync('stat', ['-c', '%a', socket], { encoding: 'utf8' }).trim();
    expect(mode).toBe('600');
    const res = await get(socket, params(folder, '/hello'));
    expect(res.body).toMatch(/^\/hello \d+ \d+$/);
  });

  it('serves a request on its 150th connection: nginx keeps keepalive idle ones per worker', async () => {
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 149; i++) {
        const conn = connect(socket);
        idle.push(conn);
        await new Promise<void>((resolve, reject) => conn.once('connect', resolve).once('error', reject));
      }
      const res = await get(socket, params(folder, '/hello'));
      expect(res.body).toMatch(/^\/hello \d+ \d+$/);
      expect(idle.filter((conn) => conn.readyState !== 'open')).toEqual([]);
    } finally {
      for (const conn of idle) conn.destroy();
    }
  });

  it('refuses a .wsgi outside its --root folders', async () => {
    const outside = appFolder(APP);
    const res = await get(socket, { ...params(folder, '/'), SCRIPT_FILENAME: outside.app });
    expect(res.status).toBe(403);
    expect(res.body).not.toContain(outside.app);
  });

  // Spec §5.4: ABORT_REQUEST is answered with END_REQUEST as soon as possible, and the kept
  // connection serves the next request, whatever the aborted one was doing.
  async function abortThenNext(sock: Socket, first: FastcgiResponse, next: string): Promise<void> {
    const ended = new Promise<FastcgiEnd>((resolve) => first.once('endRequest', resolve));
    first.on('error', () => {});
    first.resume();
    sock.write(abortRequest(1));
    expect(await ended).toEqual({ appStatus: 1, protocolStatus: 0 });
    const res = await collectResponse(fastcgiRequest(sock, { params: params(folder, next), keepConn: true }));
    expect(res.stdout.toString('latin1')).toMatch(new RegExp(`\\r\\n\\r\\n${next} \\d+`));
    sock.destroy();
  }

  async function kept(): Promise<Socket> {
    const sock = connect(socket);
    await new Promise((r) => sock.once('connect', r));
    return sock;
  }

  it('on FCGI_ABORT_REQUEST while streaming: END_REQUEST, the iterable closed, the kept connection serves on', async () => {
    const sock = await kept();
    const response = fastcgiRequest(sock, { params: params(folder, '/endless'), keepConn: true });
    await new Promise<void>((resolve) => {
      let received = 0;
      const onData = (chunk: Buffer): void => {
        received += chunk.length;
        if (received > 8192) {
          response.off('data', onData);
          response.pause();
          resolve();
        }
      };
      response.on('data', onData);
    });
    await abortThenNext(sock, response, '/after-stream');
    await eventually(() => folder.log().includes('endless closed'), 'close() of the aborted iterable');
  });

  it('on FCGI_ABORT_REQUEST while the app reads the body: END_REQUEST, the kept connection serves on', async () => {
    const sock = await kept();
    const body = new PassThrough();
    const p = { ...params(folder, '/upload'), REQUEST_METHOD: 'POST', CONTENT_LENGTH: '100000' };
    const response = fastcgiRequest(sock, { params: p, stdin: body, keepConn: true });
    body.write(Buffer.alloc(1000, 97));
    await eventually(() => folder.log().includes('upload reading'), 'the app reading its body');
    await abortThenNext(sock, response, '/after-upload');
    await eventually(() => folder.log().includes('upload broke off'), 'the app seeing its body cut off');
  });

  it('on FCGI_ABORT_REQUEST while waiting for a worker: END_REQUEST, the kept connection serves on', async () => {
    const gate = join(folder.dir, 'gate-abort');
    const count = (folder.log().match(/slow started/g) ?? []).length;
    const busy = [get(socket, params(folder, '/slow', gate)), get(socket, params(folder, '/slow', gate))];
    await eventually(() => (folder.log().match(/slow started/g) ?? []).length >= count + 2, 'two busy workers');
    const sock = await kept();
    const queued = fastcgiRequest(sock, { params: params(folder, '/queued'), keepConn: true });
    await new Promise((resolve) => setTimeout(resolve, 100)); // let it reach the queue
    const served = abortThenNext(sock, queued, '/after-queue');
    await new Promise((resolve) => setTimeout(resolve, 100));
    writeFileSync(gate, '');
    await served;
    for (const slow of busy) expect((await slow).body).toMatch(/^\/slow /);
  });

  it('closes a connection that sends a malformed record, and keeps serving others', async () => {
    const bad = connect(socket);
    await new Promise((r) => bad.once('connect', r));
    const closed = new Promise((r) => bad.once('close', r));
    bad.write(Buffer.from([9, 9, 9, 9, 9, 9, 9, 9, 9, 9]));
    await closed;
    expect((await get(socket, params(folder, '/still'))).body).toMatch(/^\/still /);
  });

  it('SIGHUP recycles the workers without dropping the request in flight', async () => {
    const before = Number((await get(socket, params(folder, '/a'))).body.split(' ')[1]);
    const gate = join(folder.dir, 'gate-hup');
    const slow = get(socket, params(folder, '/slow', gate));
    await eventually(() => folder.log().includes('slow started'), 'the slow request');
    daemon.child.kill('SIGHUP');
    await eventually(() => daemon.output().includes('SIGHUP'), 'the SIGHUP');
    const after = Number((await get(socket, params(folder, '/b'))).body.split(' ')[1]);
    expect(after).not.toBe(before);
    writeFileSync(gate, '');
    expect((await slow).body).toMatch(/^\/slow /);
  });

  it('SIGTERM finishes the request in flight, then exits 0', async () => {
    const gate = join(folder.dir, 'gate-term');
    const count = (folder.log().match(/slow started/g) ?? []).length;
    const slow = get(socket, params(folder, '/slow', gate));
    await eventually(() => (folder.log().match(/slow started/g) ?? []).length > count, 'the slow request');
    daemon.child.kill('SIGTERM');
    await eventually(() => daemon.output().includes('stopping'), 'the stop');
    writeFileSync(gate, '');
    expect((await slow).body).toMatch(/^\/slow /);
    expect(await daemon.exited).toBe(0);
  });
});

describe('wsgi-fcgi listening', () => {
  it.skipIf(!existsSync('/usr/bin/spawn-fcgi'))('takes the listening socket on fd 0 from spawn-fcgi', async () => {
    const folder = appFolder(APP);
    const socket = join(folder.dir, 'fd0.sock');
    const daemon = startFcgi(['--app', folder.app], {}, '/usr/bin/spawn-fcgi', [
      '-n',
      '-s',
      socket,
      '--',
      process.execPath,
    ]);
    try {
      await ready(daemon);
      expect((await get(socket, params(folder, '/fd0'))).body).toMatch(/^\/fd0 /);
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });

  it.skipIf(!existsSync('/usr/bin/systemd-socket-activate'))(
    'takes the socket systemd activation hands over on fd 3 (LISTEN_FDS), and keeps LISTEN_* from the app',
    async () => {
      const folder = appFolder(
        "import os\ndef application(e, s):\n    s('200 OK', [('Content-Type', 'text/plain')])\n    return [repr(sorted(k for k in os.environ if k.startswith('LISTEN'))).encode()]\n",
      );
      const socket = join(folder.dir, 'activated.sock');
      const daemon = startFcgi(['--app', folder.app], {}, '/usr/bin/systemd-socket-activate', [
        '-l',
        socket,
        process.execPath,
      ]);
      try {
        // systemd-socket-activate starts the program on the first connection.
        await eventually(() => existsSync(socket), 'the socket');
        expect((await get(socket, params(folder, '/'))).body).toBe('[]');
      } finally {
        daemon.child.kill('SIGTERM');
        await daemon.exited;
      }
    },
  );

  it('replaces a stale socket file and refuses a path another process serves', async () => {
    const folder = appFolder(APP);
    const socket = join(folder.dir, 'stale.sock');
    // A socket file whose server is gone.
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(socket, r));
    // Closing removes the file; recreate a dead one by hand.
    await new Promise((r) => gone.close(r));
    writeFileSync(socket, '');
    const first = startFcgi(['--listen', socket, '--app', folder.app]);
    await ready(first);
    const second = startFcgi(['--listen', socket, '--app', folder.app]);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain('already served by another process');
    expect((await get(socket, params(folder, '/live'))).body).toMatch(/^\/live /);
    first.child.kill('SIGTERM');
    await first.exited;
  });

  it('SIGHUP re-reads the host settings: an app the new allowed_roots exclude is refused', async () => {
    const folder = appFolder(APP);
    const hostFile = join(folder.dir, 'host.toml');
    writeFileSync(hostFile, `allowed_roots = ["${folder.dir}"]\n`);
    const socket = join(folder.dir, 'hup.sock');
    const daemon = startFcgi(['--listen', socket, '--host-settings', hostFile]);
    try {
      await ready(daemon);
      expect((await get(socket, params(folder, '/before'))).status).toBe(200);
      writeFileSync(hostFile, 'allowed_roots = ["/nonexistent-wsgikit-root"]\n');
      daemon.child.kill('SIGHUP');
      await eventually(() => daemon.output().includes('SIGHUP'), 'the SIGHUP');
      expect((await get(socket, params(folder, '/after'))).status).toBe(403);
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });

  it('on TCP, closes connections from addresses not in FCGI_WEB_SERVER_ADDRS', async () => {
    const folder = appFolder(APP);
    const daemon = startFcgi(['--listen', '127.0.0.1:0', '--app', folder.app], {
      FCGI_WEB_SERVER_ADDRS: '127.0.0.2',
    });
    try {
      await ready(daemon);
      const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(daemon.output())![1]);
      await expect(get({ host: '127.0.0.1', port }, params(folder, '/'))).rejects.toThrow();
      expect(daemon.output()).toContain('not in FCGI_WEB_SERVER_ADDRS');
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });
});

describe.skipIf(process.getuid?.() !== 0)('wsgi-fcgi --user', () => {
  const user = `wsgift${process.pid % 100000}`;
  let created = false;
  beforeAll(() => {
    execFileSync('useradd', ['-m', '-s', '/usr/sbin/nologin', user]);
    created = true;
  });
  afterAll(() => {
    if (created) execFileSync('userdel', ['-r', user], { stdio: 'ignore' });
  });

  it('drops root before any app code runs: the app and the socket belong to the user', async () => {
    const home = `/home/${user}`;
    const folder = appFolder(APP);
    execFileSync('chown', ['-R', `${user}:${user}`, folder.dir]);
    const socket = join(home, 'fcgi.sock');
    const daemon = startFcgi(['--listen', socket, '--app', folder.app, '--user', user, '--root', folder.dir]);
    try {
      await ready(daemon);
      const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
      expect(execFileSync('stat', ['-c', '%u', socket], { encoding: 'utf8' }).trim()).toBe(String(uid));
      const res = await get(socket, params(folder, '/who'));
      expect(res.body.split(' ')[2]).toBe(String(uid));
      expect(Number(execFileSync('stat', ['-c', '%u', `/proc/${daemon.child.pid}`], { encoding: 'utf8' }))).toBe(uid);
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });
});

// The CGI front end's rule for CONTENT_LENGTH holds for FastCGI PARAMS too: libfcgi's cgi-fcgi
// passes its environment's CONTENT_LENGTH as it is (and sends atoi() of it in bytes of stdin).
describe.skipIf(!existsSync('/usr/bin/cgi-fcgi'))('wsgi-fcgi: CONTENT_LENGTH', () => {
  const COUNTING_APP = `
import json, sys
sys.stdout.write('app imported\\n')
sys.stdout.flush()

def application(environ, start_response):
    body = environ['wsgi.input'].read()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'length': len(body), 'body': body.decode('latin-1')}).encode()]
`;
  const served = serveFixedApp(COUNTING_APP, {}, 'length.sock');

  function cgiFcgi(env: Record<string, string>, stdin: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('/usr/bin/cgi-fcgi', ['-bind', '-connect', served.socket], { env, stdio: 'pipe' });
      let out = '';
      child.stdout.setEncoding('latin1').on('data', (d: string) => (out += d));
      child.on('error', reject);
      child.on('close', () => resolve(out));
      child.stdin.on('error', () => {});
      child.stdin.end(stdin);
    });
  }

  it.each(['-5', 'abc', '12abc', '+5', '5 ', '99999999999999999999'])(
    'answers CONTENT_LENGTH %j from cgi-fcgi with the 400 page; no app code runs',
    async (length) => {
      const env = { ...params(served.folder, '/up'), REQUEST_METHOD: 'POST', CONTENT_LENGTH: length };
      const out = await cgiFcgi(env, 'hello');
      expect(out).toMatch(/^Status: 400 Bad request\r\n/);
      const incident = /[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}/.exec(out)![0];
      await eventually(() => served.daemon.output().includes(incident), 'the incident in the server log');
      expect(served.daemon.output()).toContain('is not a length in bytes');
      expect(served.folder.log()).not.toContain('app imported');
    },
  );

  it('serves a plain decimal from cgi-fcgi', async () => {
    const env = { ...params(served.folder, '/up'), REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5' };
    const out = await cgiFcgi(env, 'hello');
    expect(JSON.parse(out.split('\r\n\r\n')[1]!)).toEqual({ length: 5, body: 'hello' });
  });

  it('gives the app exactly CONTENT_LENGTH bytes when STDIN holds more', async () => {
    const p = { ...params(served.folder, '/up'), REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5' };
    const res = await collectResponse(fastcgiRequest(served.socket, { params: p, stdin: Buffer.from('helloEXTRA') }));
    expect(JSON.parse(res.stdout.toString('latin1').split('\r\n\r\n')[1]!)).toEqual({ length: 5, body: 'hello' });
  });
});

describe('wsgi-fcgi: 100 MB up and down with flat memory', () => {
  const STREAM_APP = `
import hashlib

def application(environ, start_response):
    if environ['PATH_INFO'] == '/upload':
        digest, total, stream = hashlib.sha256(), 0, environ['wsgi.input']
        while True:
            block = stream.read(65536)
            if not block:
                break
            total += len(block)
            digest.update(block)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [('%d %s' % (total, digest.hexdigest())).encode()]
    block = b'y' * 65536
    start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(1600 * 65536))])
    return (block for _ in range(1600))
`;
  const served = serveFixedApp(STREAM_APP, { max_body_mb: 200 }, 'big.sock');

  it('streams both ways through STDIN and STDOUT records while its own peak RSS stays low', async () => {
    const { stream: body, size: total, sha256 } = streamedBody(100);
    const up = await collectResponse(
      fastcgiRequest(served.socket, {
        params: { ...params(served.folder, '/upload'), REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(total) },
        stdin: body,
      }),
    );
    expect(up.stdout.toString('latin1').split('\r\n\r\n')[1]).toBe(`${total} ${sha256}`);

    let received = 0;
    const down = fastcgiRequest(served.socket, { params: params(served.folder, '/download') });
    for await (const chunk of down as AsyncIterable<Buffer>) received += chunk.length;
    expect(received).toBeGreaterThan(total); // the body and its CGI head

    // Node itself takes ~50-70 MB; holding either body would add 100 MB.
    expect(memoryOf(served.daemon.child.pid!).peakMb).toBeLessThan(150);
  });
});

describe('wsgi-fcgi --preload', () => {
  // The flag alone, or the app's settings alone, ask for the import at start.
  it.each<{ how: string; args: string[]; settings: Record<string, boolean> }>([
    { how: '--preload', args: ['--preload'], settings: {} },
    { how: 'preload = true in its settings', args: [], settings: { preload: true } },
  ])('an --app with $how is imported at start, before any request', async ({ args, settings }) => {
    const folder = appFolder(APP, settings);
    const socket = join(folder.dir, 'preload.sock');
    const daemon = startFcgi(['--listen', socket, '--app', folder.app, ...args]);
    try {
      await ready(daemon);
      await eventually(() => folder.log().includes('app loaded'), 'the app loaded with no request');
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });

  it('--preload without --app is a usage error (exit 2) pointing to --preload-app', async () => {
    const folder = appFolder(APP);
    const daemon = startFcgi(['--listen', join(folder.dir, 'never.sock'), '--root', folder.dir, '--preload']);
    const serving = setTimeout(() => daemon.child.kill('SIGKILL'), 5000); // it would serve on, ignoring --preload
    try {
      expect(await daemon.exited).toBe(2);
    } finally {
      clearTimeout(serving);
    }
    expect(daemon.output()).toContain('--preload-app FILE');
    expect(existsSync(join(folder.dir, 'never.sock'))).toBe(false);
  });

  it('imports apps at start; a failing one is logged and only its own visitors get the load-failure page', async () => {
    const good = appFolder(APP);
    const broken = appFolder('import no_such_module_for_preload\n');
    const socket = join(good.dir, 'preload.sock');
    const daemon = startFcgi([
      '--listen',
      socket,
      '--root',
      good.dir,
      '--root',
      broken.dir,
      '--preload-app',
      good.app,
      '--preload-app',
      broken.app,
    ]);
    try {
      await ready(daemon);
      // Both imports happen with no request made.
      await eventually(() => good.log().includes('app loaded'), 'the good app loaded at start');
      const incident = await eventually(
        () => /incident (\S+): the app failed to load/.exec(broken.log())?.[1],
        'the broken app logged at start',
      );
      expect(broken.log()).toContain('no_such_module_for_preload');
      expect((await get(socket, params(good, '/first'))).body).toMatch(/^\/first /);
      const page = await get(socket, { ...params(good, '/'), SCRIPT_FILENAME: broken.app });
      expect(page.status).toBe(500);
      expect(page.body).toContain(incident);
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
  });
});

describe("--relay (the user's CGI daemon): its idle exit", () => {
  // Started with --idle-exit 1, as by a request for an app whose idle_timeout is 1 s; a request for
  // an app that asks for 600 s keeps it, and so every other app's workers, running.
  async function served(idleTimeout: number): Promise<Daemon> {
    const folder = appFolder(APP, { idle_timeout: idleTimeout });
    const socket = join(folder.dir, 'cgi.sock');
    const daemon = startFcgi(['--listen', socket, '--relay', '--idle-exit', '1', '--root', folder.dir]);
    await ready(daemon);
    const connection = await connectDaemon(socket);
    if (connection instanceof Error) throw connection;
    const out = new PassThrough();
    const body: Buffer[] = [];
    out.on('data', (d: Buffer) => body.push(d));
    const environ = params(folder, '/');
    const result = await relay(connection, folder.app, environ, null, out);
    expect(result.ok).toBe(true);
    expect(Buffer.concat(body).toString('latin1')).toMatch(/^Status: 200/);
    return daemon;
  }

  it('stays for the longest idle_timeout of the apps it served, not only its starter’s', async () => {
    const patient = await served(600);
    const quick = await served(1);
    // The quick one's 1 s passes well within this: it exits; the patient one is still there.
    expect(await Promise.race([quick.exited, new Promise((r) => setTimeout(() => r('running'), 8000))])).toBe(0);
    expect(patient.child.exitCode).toBeNull();
    expect(quick.output()).toContain('idle for 1 s');
    patient.child.kill('SIGTERM');
    await patient.exited;
  }, 30_000);
});
