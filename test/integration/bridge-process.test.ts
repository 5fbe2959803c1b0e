// The bridge as a process: signals, resource limits, start failures, a real framework.
import { writeFileSync, mkdtempSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunOutcome } from '../../src/python-bridge/bridge-process.js';
import type { WsgikitError } from '../../src/errors.js';
import { pythons, request, startBridge, stopAllBridges, systemPython } from '../helpers/pythons.js';

afterAll(stopAllBridges);

function failure(outcome: RunOutcome): { error: WsgikitError; started: boolean } {
  if (outcome.ok) throw new Error('expected the run to fail');
  return outcome;
}

describe.skipIf(pythons.length === 0).each(pythons)('bridge process on $label', (python) => {
  it('SIGUSR1 logs the stack of a stuck request; a kill then ends the run as a crash', async () => {
    const t = startBridge(python, 'stuck.wsgi');
    await t.bridge.ready;
    const run = request(t.bridge);
    await t.waitForLine(/^entered the app$/);
    t.bridge.dumpStacks();
    await t.waitForLine(new RegExp(`^wsgikit: stack dump \\(pid ${t.bridge.pid}\\)$`));
    await t.waitForLine(/in stuck_in_here/);
    await t.waitForLine(/^wsgikit: end of stack dump$/);
    expect(t.bridge.busy).toBe(true); // the request goes on after the dump
    t.bridge.kill();
    const { error, started } = failure((await run).outcome);
    expect(error.code).toBe('WSGIKIT_WORKER_CRASHED');
    expect(error.message).toMatch(/was killed by SIGKILL during the request/);
    expect(error.ownerDetail).toMatch(/stuck_in_here/);
    expect(started).toBe(false);
    expect(await t.bridge.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('a CPU limit marks the worker for recycling: Z carries cpu-limit, then exit 0', { timeout: 60_000 }, async () => {
    const t = startBridge(python, 'cpu.wsgi', { cpuLimitSeconds: 1 });
    const { outcome, sink } = await request(t.bridge, { QUERY_STRING: '1.6' });
    expect(outcome, t.stderr.join('\n')).toEqual({ ok: true, exitReason: 'cpu-limit' });
    expect(sink.text).toBe('burned');
    expect(await t.bridge.exited).toEqual({ code: 0, signal: null });
  });

  it.skipIf(python.implementation !== 'CPython')(
    'an address-space limit turns a huge allocation into a MemoryError, and the worker goes on',
    async () => {
      const t = startBridge(python, 'memory.wsgi', { addressSpaceLimitMb: 400 });
      const { outcome } = await request(t.bridge, { QUERY_STRING: '1000' });
      const { error } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_APP_EXCEPTION');
      expect(error.message).toMatch(/^MemoryError/);
      const small = await request(t.bridge, { QUERY_STRING: '10' });
      expect(small.sink.text).toBe(String(10 * 1024 * 1024));
    },
  );

  it('fds 3 and 4 are not inherited by programs the app starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsgikit-fds-'));
    const app = join(dir, 'fds.wsgi');
    writeFileSync(
      app,
      [
        'import subprocess',
        'def application(environ, start_response):',
        "    out = subprocess.check_output(['/bin/sh', '-c', 'ls /proc/self/fd'], close_fds=False)",
        "    start_response('200 OK', [('Content-Type', 'text/plain')])",
        '    return [out]',
      ].join('\n'),
    );
    const t = startBridge(python, app);
    const { outcome, sink } = await request(t.bridge);
    expect(outcome.ok).toBe(true);
    const fds = sink.text.split('\n').filter(Boolean).map(Number);
    expect(fds).not.toContain(3 + 1); // fd 4 (fd 3 may be ls's own directory handle)
    expect(fds.filter((fd) => fd === 3 || fd === 4).length).toBeLessThanOrEqual(1);
  });
});

describe('start failures', () => {
  const python = pythons[0];

  it('names the interpreter when it does not exist', async () => {
    const t = startBridge('/nonexistent/bin/python3', 'hello.wsgi');
    const error = (await t.bridge.ready.catch((e: unknown) => e)) as WsgikitError;
    expect(error.code).toBe('WSGIKIT_WORKER_START_FAILED');
    expect(error.message).toMatch(/\/nonexistent\/bin\/python3 does not exist/);
    const { outcome } = await request(t.bridge);
    expect(failure(outcome).error).toBe(error);
    expect(await t.bridge.exited).toEqual({ code: null, signal: null });
  });

  it('leaves no descriptor behind, its claim file included, however often the start fails', async () => {
    const open = () => readdirSync('/proc/self/fd').length;
    const start = async () => {
      const t = startBridge('/nonexistent/bin/python3', 'hello.wsgi', { queueing: true });
      await t.bridge.ready.catch(() => {});
      await t.bridge.exited;
    };
    await start(); // anything opened once per process (the first spawn's) is open from here on
    const before = open();
    for (let i = 0; i < 20; i++) await start();
    expect(open()).toBe(before);
  });

  it('says when the interpreter is not executable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsgikit-py-'));
    const fake = join(dir, 'python3');
    writeFileSync(fake, '#!/bin/sh\n');
    chmodSync(fake, 0o644);
    const t = startBridge(fake, 'hello.wsgi');
    const error = (await t.bridge.ready.catch((e: unknown) => e)) as WsgikitError;
    expect(error.code).toBe('WSGIKIT_WORKER_START_FAILED');
    expect(error.message).toMatch(/permission denied/);
  });

  it('reports an exit before Y with the last stderr lines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsgikit-py-'));
    const fake = join(dir, 'python3');
    writeFileSync(fake, '#!/bin/sh\necho "this is not python" >&2\nexit 7\n');
    chmodSync(fake, 0o755);
    const t = startBridge(fake, 'hello.wsgi');
    const error = (await t.bridge.ready.catch((e: unknown) => e)) as WsgikitError;
    expect(error.code).toBe('WSGIKIT_WORKER_START_FAILED');
    expect(error.message).toMatch(/exited with code 7 before the app was loaded/);
    expect(error.ownerDetail).toMatch(/this is not python/);
  });

  it.skipIf(python === undefined)('exits 2 on a usage error', () => {
    const script = new URL('../../src/python-bridge/wsgi_bridge.py', import.meta.url).pathname;
    let status = 0;
    let stderr = '';
    try {
      execFileSync(python!.path, [script, '--mode', 'bogus'], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      status = (error as { status: number }).status;
      stderr = String((error as { stderr: Buffer }).stderr);
    }
    expect(status).toBe(2);
    expect(stderr).toMatch(/usage: wsgi_bridge\.py --app/);
  });
});

describe.skipIf(systemPython === undefined)('a Flask app on Debian python3', () => {
  let hasFlask = false;
  try {
    execFileSync(systemPython!.path, ['-c', 'import flask'], { stdio: 'ignore' });
    hasFlask = true;
  } catch {
    // python3-flask not installed
  }

  it.skipIf(!hasFlask)('routes and echoes a POST body', async () => {
    const t = startBridge(systemPython!, 'flask_app.wsgi');
    const hello = await request(t.bridge, { PATH_INFO: '/hello/world' });
    expect(hello.outcome, t.stderr.join('\n')).toEqual({ ok: true, exitReason: null });
    expect(hello.sink.status).toBe('200 OK');
    expect(hello.sink.text).toBe('Hello world from Flask');
    const body = Buffer.from('{"a": 1}');
    const echo = await request(
      t.bridge,
      {
        PATH_INFO: '/echo',
        REQUEST_METHOD: 'POST',
        CONTENT_TYPE: 'application/json',
        CONTENT_LENGTH: String(body.length),
      },
      Readable.from([body]),
      {},
      body.length,
    );
    expect(echo.sink.text).toBe('{"a": 1}');
    const missing = await request(t.bridge, { PATH_INFO: '/nope' });
    expect(missing.sink.status).toBe('404 NOT FOUND');
  });
});
