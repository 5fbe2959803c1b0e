// The native CGI launcher (src/cgi/launcher/wsgi-cgi.c) against a scripted daemon: built here under
// AddressSanitizer and UndefinedBehaviorSanitizer, beside a stand-in for the Node entry that says
// how it was run, so each case shows whether the launcher relayed the request or handed it over,
// and with what. The daemon is this file's FastcgiConnection on the socket the launcher looks for,
// each case scripting its answer. Also: its reply parser fuzzed, and its memory for 100 MiB each
// way (a plain -O2 build). The real daemon behind it: test/integration/wsgi-cgi.test.ts and the
// Apache end-to-end tests, which run through both entries.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homeOf } from '../../src/app/locate.js';
import { daemonPaths } from '../../src/cgi/daemon.js';
import { SERVED_ROLES } from '../../src/fastcgi/authorizer.js';
import { FastcgiConnection, type FastcgiRequest } from '../../src/fastcgi/connection.js';
import { LAUNCHER_DECLINE, LAUNCHER_PROCEED } from '../../src/fastcgi/protocol.js';
import { LAUNCHER_SOURCE, SANITIZER_FLAGS, compileLauncher, findCompiler } from '../../scripts/launcher-build.mjs';
import { createTestUser, type TestUser } from '../helpers/apache-cgi.js';
import { nativeLauncherBuilt } from '../helpers/cgi-site.js';
import { REPO, isRoot } from '../helpers/servers.js';

const cc = findCompiler();
const clang = spawnSync('clang', ['--version']).status === 0;

/** Says how it was run, as a CGI response: the stand-in for dist/wsgi-cgi.cjs. */
const RECORDER = `#!/usr/bin/env node
const { createHash } = require('node:crypto');
const hash = createHash('sha256');
let length = 0;
process.stdin.on('data', (d) => { length += d.length; hash.update(d); });
process.stdin.on('end', () => {
  const seen = {
    argv: process.argv.slice(2),
    relayFailed: process.env.WSGIKIT_CGI_RELAY_FAILED ?? null,
    mark: process.env.MARK ?? null,
    length,
    sha256: hash.digest('hex'),
  };
  process.stdout.write('Status: 299 Handed over\\r\\nContent-Type: application/json\\r\\n\\r\\n' + JSON.stringify(seen));
});
`;

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

interface Handed {
  argv: string[];
  relayFailed: string | null;
  mark: string | null;
  length: number;
  sha256: string;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function handedOver(run: Run): Handed | null {
  const text = run.stdout.toString('latin1');
  if (!text.startsWith('Status: 299 Handed over')) return null;
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Handed;
}

describe.skipIf(!cc || !clang)('the native CGI launcher', () => {
  let dir: string;
  let launcher: string;
  let plain: string;
  let server: Server;
  let socketPath: string;
  /** What the daemon does with the next request; every request it got. */
  let handler: (request: FastcgiRequest, connection: FastcgiConnection) => void = () => {};
  const requests: FastcgiRequest[] = [];
  let connections = 0;
  const hostFile = `/nonexistent/wsgikit-launcher-test-${process.pid}.toml`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wsgikit-launcher-'));
    chmodSync(dir, 0o755);
    launcher = join(dir, 'wsgi-cgi');
    compileLauncher({ cc: 'clang', out: launcher, entry: '/nonexistent', extraFlags: SANITIZER_FLAGS });
    mkdirSync(join(dir, 'plain'), { mode: 0o755 });
    plain = join(dir, 'plain', 'wsgi-cgi');
    compileLauncher({ cc: cc!, out: plain, entry: '/nonexistent' });
    writeFileSync(join(dir, 'wsgi-cgi.cjs'), RECORDER, { mode: 0o755 });
    writeFileSync(join(dir, 'plain', 'wsgi-cgi.cjs'), RECORDER, { mode: 0o755 });

    socketPath = daemonPaths(homeOf(process.getuid!()), hostFile).socket;
    mkdirSync(join(socketPath, '..'), { recursive: true, mode: 0o700 });
    rmSync(socketPath, { force: true });
    server = createServer((socket) => {
      connections++;
      const connection: FastcgiConnection = new FastcgiConnection(socket, {
        maxConns: 10,
        roles: SERVED_ROLES,
        onRequest: (request) => {
          requests.push(request);
          handler(request, connection);
        },
        onError: () => {},
      });
    });
    await new Promise<void>((done) => server.listen(socketPath, done));
    chmodSync(socketPath, 0o600);
  });

  afterAll(async () => {
    await new Promise((done) => server?.close(done));
    rmSync(socketPath, { force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  function cgiEnv(vars: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      SCRIPT_NAME: '/app.wsgi',
      QUERY_STRING: 'a=1',
      MARK: 'm',
      ASAN_OPTIONS: 'abort_on_error=0:exitcode=86',
      UBSAN_OPTIONS: 'halt_on_error=1:exitcode=87:print_stacktrace=1',
    };
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    return env;
  }

  function run(
    options: {
      vars?: Record<string, string | undefined>;
      body?: Buffer;
      args?: string[];
      bin?: string;
      uid?: number;
    } = {},
  ): Promise<Run> {
    const child = spawn(options.bin ?? launcher, ['--host-settings', hostFile, ...(options.args ?? [])], {
      env: cgiEnv(options.vars),
      cwd: dir,
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdin.on('error', () => {}); // a launcher that answers before reading the body
    child.stdin.end(options.body);
    return new Promise((resolve) => {
      child.once('close', (code) => {
        expect(stderr, 'a sanitizer report').not.toMatch(/AddressSanitizer|runtime error|LeakSanitizer/);
        resolve({ code, stdout: Buffer.concat(out), stderr });
      });
    });
  }

  /** Answers with the request's params and body digest, once the body is in. */
  function echoParams(request: FastcgiRequest): void {
    request.sendSignal(LAUNCHER_PROCEED);
    const hash = createHash('sha256');
    let length = 0;
    const finish = () => {
      const body = JSON.stringify({ params: request.params, length, sha256: hash.digest('hex') });
      request.writeStderr('a line for the error log\n');
      request.writeStdout(`Status: 200 OK\r\nContent-Type: application/json\r\n\r\n${body}`);
      request.end(0);
    };
    if (request.stdinComplete && request.stdinBuffered === 0) return finish();
    request.stdin.on('data', (d: Buffer) => {
      length += d.length;
      hash.update(d);
    });
    request.stdin.on('end', finish);
  }

  function relayed(result: Run): { params: Record<string, string>; length: number; sha256: string } {
    const text = result.stdout.toString('latin1');
    expect(text, result.stderr).toMatch(/^Status: 200 OK\r\n/);
    return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
  }

  it('relays every variable, its arguments and its folder as PARAMS, and the answer and stderr back', async () => {
    handler = echoParams;
    const result = await run({ vars: { HTTP_X_CAFE: 'caf\u00e9' }, args: ['app.wsgi'] });
    expect(result.code).toBe(0);
    const { params } = relayed(result);
    expect(params).toMatchObject({
      GATEWAY_INTERFACE: 'CGI/1.1',
      PATH: '/usr/local/bin:/usr/bin:/bin',
      MARK: 'm',
      HTTP_X_CAFE: Buffer.from('caf\u00e9', 'utf8').toString('latin1'),
      '=wsgikit.launcher': '1',
      '=wsgikit.arg.1': '--host-settings',
      '=wsgikit.arg.2': hostFile,
      '=wsgikit.arg.3': 'app.wsgi',
      '=wsgikit.cwd': dir,
    });
    expect(result.stderr).toContain('a line for the error log');
  });

  describe('CONTENT_LENGTH', () => {
    const body = Buffer.from('0123456789');

    it('absent, empty or 0: no body, and nothing read from stdin', async () => {
      handler = echoParams;
      for (const length of [undefined, '', '0']) {
        const result = relayed(await run({ vars: { CONTENT_LENGTH: length, REQUEST_METHOD: 'POST' }, body }));
        expect(result.length, String(length)).toBe(0);
      }
    });

    it('plain decimal: that many bytes, streamed', async () => {
      handler = echoParams;
      expect(relayed(await run({ vars: { CONTENT_LENGTH: '10' }, body }))).toMatchObject({
        length: 10,
        sha256: sha256(body),
      });
      expect(relayed(await run({ vars: { CONTENT_LENGTH: '4' }, body }))).toMatchObject({ length: 4 });
    });

    it('larger than the body: what there is, then the end of STDIN (the daemon judges the short body)', async () => {
      handler = echoParams;
      expect(relayed(await run({ vars: { CONTENT_LENGTH: '100' }, body }))).toMatchObject({ length: 10 });
    });

    it('absent with a chunked body: stdin to its end', async () => {
      handler = echoParams;
      const result = await run({ vars: { HTTP_TRANSFER_ENCODING: 'chunked' }, body });
      expect(relayed(result)).toMatchObject({ length: 10, sha256: sha256(body) });
    });

    it('anything else: handed to the Node entry untouched, before any connection', async () => {
      handler = echoParams;
      const before = connections;
      for (const length of ['-1', 'abc', '1e3', ' 10', '10 ', '+10', '0x10', '1'.repeat(19)]) {
        const result = await run({ vars: { CONTENT_LENGTH: length }, body, args: ['x.wsgi'] });
        expect(handedOver(result), length).toEqual({
          argv: ['--host-settings', hostFile, 'x.wsgi'],
          relayFailed: null,
          mark: 'm',
          length: 10,
          sha256: sha256(body),
        });
      }
      expect(connections).toBe(before);
    });
  });

  it('hands a declined request to the Node entry with its body unread', async () => {
    handler = (request) => request.end(LAUNCHER_DECLINE);
    const body = Buffer.alloc(300_000, 7);
    const handed = handedOver(await run({ vars: { CONTENT_LENGTH: String(body.length) }, body }));
    expect(handed).toMatchObject({ relayFailed: null, length: body.length, sha256: sha256(body) });
  });

  it('hands over without a failure when the daemon closes before taking the request', async () => {
    handler = (_request, connection) => connection.destroy();
    expect(handedOver(await run())).toMatchObject({ relayFailed: null });
  });

  it('after the daemon took the request and before any output: the Node entry renders the 502', async () => {
    handler = (request, connection) => {
      request.sendSignal(LAUNCHER_PROCEED);
      request.stdin.on('end', () => connection.destroy());
      request.stdin.resume();
    };
    const body = Buffer.alloc(1000, 1);
    const handed = handedOver(await run({ vars: { CONTENT_LENGTH: '1000' }, body }));
    expect(handed?.relayFailed).toMatch(/closed the connection/);
  });

  it('once the head is out, a daemon that dies ends the output: no page after it', async () => {
    handler = (request, connection) => {
      request.sendSignal(LAUNCHER_PROCEED);
      request.writeStdout('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npart');
      setTimeout(() => connection.destroy(), 50);
    };
    const result = await run();
    expect(result.stdout.toString()).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npart');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('cut short');
  });

  it('a reply that is not FastCGI counts as a failed daemon', async () => {
    handler = (request, connection) => {
      request.sendSignal(LAUNCHER_PROCEED);
      // The connection sends a tick's records when the tick ends: the garbage comes after them.
      setImmediate(() => connection.socket.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')));
      request.stdin.resume();
    };
    expect(handedOver(await run())?.relayFailed).toMatch(/not valid FastCGI/);
    // Before the daemon took the request, the same is only a daemon not to use.
    handler = (request, connection) => {
      connection.socket.write(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'));
      request.stdin.resume();
    };
    expect(handedOver(await run())?.relayFailed).toBeNull();
  });

  it('a client that goes away ends the request: the daemon sees it aborted', async () => {
    let aborted: Promise<void> = Promise.resolve();
    handler = (request) => {
      request.sendSignal(LAUNCHER_PROCEED);
      aborted = new Promise((done) => request.onAbort(() => done()));
      const chunk = Buffer.alloc(65536, 120);
      request.writeStdout('Status: 200 OK\r\n\r\n');
      const pump = setInterval(() => request.writeStdout(chunk), 5);
      request.onAbort(() => clearInterval(pump));
    };
    const child = spawn(launcher, ['--host-settings', hostFile], { env: cgiEnv(), cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    await new Promise((done) => child.stdout.once('data', done));
    child.stdout.destroy();
    const code = await new Promise((done) => child.once('close', done));
    await aborted;
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/AddressSanitizer|runtime error/);
  });

  it('has exited before its output ends, as Apache checks (else it waits before the next request)', async () => {
    const hello = 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello';
    const answer = (request: FastcgiRequest) => {
      request.sendSignal(LAUNCHER_PROCEED);
      request.writeStdout(hello);
      request.end(0);
    };
    const decline = (request: FastcgiRequest) => request.end(LAUNCHER_DECLINE);
    // As mod_cgid does: read the output to its end, then ask at once whether the program is gone.
    const harness = `
import json, os, subprocess, sys
runs, running, outputs = int(sys.argv[1]), 0, set()
for _ in range(runs):
    r, w = os.pipe()
    child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=w)
    os.close(w)
    out = b''
    while True:
        chunk = os.read(r, 65536)
        if not chunk: break
        out += chunk
    if os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None: running += 1
    child.wait()
    os.close(r)
    outputs.add(out.decode('latin1'))
print(json.dumps({'running': running, 'outputs': sorted(outputs)}))
`;
    const cases = [
      { name: 'relayed', bin: plain, daemon: answer, runs: 20 },
      { name: 'relayed, under the sanitizers', bin: launcher, daemon: answer, runs: 20 },
      // The Node entry it execs is Node, with its threads: its exit too comes before the end.
      { name: 'handed over', bin: plain, daemon: decline, runs: 10 },
    ];
    for (const { name, bin, daemon, runs } of cases) {
      handler = daemon;
      // Not spawnSync: the daemon answering the launcher is this process.
      const child = spawn('/usr/bin/python3', ['-c', harness, String(runs), bin, '--host-settings', hostFile], {
        env: cgiEnv(),
        cwd: dir,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      await new Promise((done) => child.once('close', done));
      expect(stderr).toBe('');
      const seen = JSON.parse(stdout) as { running: number; outputs: string[] };
      expect(seen.outputs, name).toHaveLength(1);
      expect(seen.outputs[0], name).toMatch(daemon === answer ? hello : /^Status: 299 Handed over\r\n/);
      expect(seen.running, `${name}: still running when its output ended`).toBe(0);
    }
  });

  it('stays within 2 MiB of memory growth for 100 MiB each way at once', async () => {
    const size = 100 * 1024 * 1024;
    handler = (request) => {
      request.sendSignal(LAUNCHER_PROCEED);
      request.writeStdout('Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
      const stdin = request.stdin;
      stdin.on('data', (d: Buffer) => {
        if (!request.writeStdout(d)) {
          stdin.pause();
          request.onDrain(() => stdin.resume());
        }
      });
      stdin.on('end', () => request.end(0));
    };
    const child = spawn(plain, ['--host-settings', hostFile], {
      env: cgiEnv({ CONTENT_LENGTH: String(size), REQUEST_METHOD: 'POST' }),
      cwd: dir,
    });
    const rss: number[] = [];
    const sample = setInterval(() => {
      try {
        const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
        if (kb) rss.push(Number(kb) * 1024);
      } catch {
        // exited
      }
    }, 10);
    let received = 0;
    child.stdout.on('data', (d: Buffer) => (received += d.length));
    const chunk = Buffer.alloc(256 * 1024, 97);
    for (let sent = 0; sent < size; sent += chunk.length) {
      if (!child.stdin.write(chunk)) await new Promise((done) => child.stdin.once('drain', done));
    }
    child.stdin.end();
    const code = await new Promise((done) => child.once('close', done));
    clearInterval(sample);
    expect(code).toBe(0);
    expect(received).toBeGreaterThan(size);
    expect(rss.length).toBeGreaterThan(2);
    expect(Math.max(...rss) - Math.min(...rss)).toBeLessThanOrEqual(2 * 1024 * 1024);
  }, 120_000);

  it('its FastCGI reply parser survives the fuzzer (fixed seed, bounded), under ASan and UBSan', () => {
    const fuzz = join(dir, 'fuzz-reply');
    const built = spawnSync(
      'clang',
      [
        '-std=c11',
        ...SANITIZER_FLAGS,
        '-Wall',
        '-Wextra',
        '-Werror',
        '-I',
        join(LAUNCHER_SOURCE, '..'),
        '-o',
        fuzz,
        join(REPO, 'test', 'fixtures', 'launcher', 'fuzz-reply.c'),
      ],
      { encoding: 'utf8' },
    );
    expect(built.status, built.stderr).toBe(0);
    const result = spawnSync(fuzz, ['20261205', '2000'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok 2000\n');
  });

  it('the build made wsgi-cgi the native launcher (a C compiler is here)', () => {
    expect(nativeLauncherBuilt()).toBe(true);
  });

  describe.runIf(isRoot())('does not connect unless the run folder and the socket are the user\u2019s alone', () => {
    let user: TestUser;
    let userServer: Server;
    let run_: string;
    let userSocket: string;

    beforeAll(async () => {
      user = createTestUser();
      run_ = join(user.home, '.wsgikit', 'run');
      userSocket = daemonPaths(user.home, hostFile).socket;
      userServer = createServer((socket) => {
        connections++;
        socket.destroy();
      });
    });

    afterAll(async () => {
      await new Promise((done) => (userServer.listening ? userServer.close(done) : done(undefined)));
      user?.remove();
    });

    async function layout(folderMode: number, socketMode: number): Promise<void> {
      rmSync(join(user.home, '.wsgikit'), { recursive: true, force: true });
      mkdirSync(run_, { recursive: true });
      chownSync(join(user.home, '.wsgikit'), user.uid, user.gid);
      chmodSync(run_, folderMode);
      chownSync(run_, user.uid, user.gid);
      if (userServer.listening) await new Promise((done) => userServer.close(done));
      await new Promise<void>((done) => userServer.listen(userSocket, done));
      chmodSync(userSocket, socketMode);
      lchownSync(userSocket, user.uid, user.gid);
    }

    async function asUser(): Promise<Run> {
      return run({ uid: user.uid });
    }

    it('no ~/.wsgikit: handed over', async () => {
      expect(handedOver(await run({ uid: user.uid }))).toMatchObject({ relayFailed: null });
    });

    it('a run folder others may enter: handed over, no connection', async () => {
      await layout(0o755, 0o600);
      const before = connections;
      expect(handedOver(await asUser())).not.toBeNull();
      expect(connections).toBe(before);
    });

    it('a socket others may use: handed over, no connection', async () => {
      await layout(0o700, 0o660);
      const before = connections;
      expect(handedOver(await asUser())).not.toBeNull();
      expect(connections).toBe(before);
    });

    it('a run folder that is a symlink: handed over, no connection', async () => {
      await layout(0o700, 0o600);
      const real = join(user.home, '.wsgikit', 'real-run');
      rmSync(real, { recursive: true, force: true });
      mkdirSync(real, { mode: 0o700 });
      chownSync(real, user.uid, user.gid);
      await new Promise((done) => userServer.close(done));
      rmSync(run_, { recursive: true, force: true });
      symlinkSync(real, run_);
      lchownSync(run_, user.uid, user.gid);
      await new Promise<void>((done) => userServer.listen(join(real, userSocket.split('/').pop()!), done));
      chmodSync(join(real, userSocket.split('/').pop()!), 0o600);
      lchownSync(join(real, userSocket.split('/').pop()!), user.uid, user.gid);
      const before = connections;
      expect(handedOver(await asUser())).not.toBeNull();
      expect(connections).toBe(before);
      unlinkSync(run_);
    });

    it("a daemon that is not the user's (the peer's uid): handed over", async () => {
      // Folder and socket look right, but the process listening is root's.
      await layout(0o700, 0o600);
      const before = connections;
      expect(handedOver(await asUser())).not.toBeNull();
      expect(connections).toBe(before + 1); // it connected, then saw the peer and left
    });
  });
});
