// The pool with real Python workers: recycling (requests, memory, CPU), idle shrinking, graceful
// reload with a request in flight, and two apps on two Pythons in one manager.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WsgikitError } from '../../src/errors.js';
import { AppLog } from '../../src/logs/app-log.js';
import { silentOpsLog } from '../../src/ops-log.js';
import { Pool, type LoadOutcome, type PoolLimits } from '../../src/pool/pool.js';
import { PoolManager } from '../../src/pool/pool-manager.js';
import { environ, pythons, systemPython, TestSink } from '../helpers/pythons.js';
import { eventually } from '../helpers/wsgi-run.js';

const LIMITS: PoolLimits = {
  processes: 2,
  minProcesses: 0,
  queueSize: 10,
  queueTimeout: 30,
  requestTimeout: 30,
  startupTimeout: 30,
  idleTimeout: 300,
  maxRequests: 0,
  memoryLimitMb: 0,
  cpuLimit: 0,
  maxBodyBytes: 0,
  reloadCheckInterval: 3600,
};

const APP = `
import os, sys, time
kept = []

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/grow':
        kept.append(bytearray(int(environ['QUERY_STRING']) * 1024 * 1024))
    elif path == '/runaway':
        while True:
            kept.append(bytearray(20 * 1024 * 1024))
            time.sleep(0.05)
    elif path == '/burn':
        end = time.process_time() + float(environ['QUERY_STRING'])
        while time.process_time() < end:
            pass
    elif path == '/slow':
        while not os.path.exists(environ['QUERY_STRING']):
            time.sleep(0.02)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%d %s' % (os.getpid(), sys.version.split()[0])).encode()]
`;

class DoneSink extends TestSink {
  readonly done: Promise<void>;
  private resolve!: () => void;
  constructor() {
    super();
    this.done = new Promise((resolve) => (this.resolve = resolve));
  }
  override end(): void {
    super.end();
    this.resolve();
  }
  override fail(error: WsgikitError): void {
    super.fail(error);
    this.resolve();
  }
}

const pools: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function makeApp(source = APP): { app: string; log: AppLog; logText: () => string } {
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-pool-'));
  const app = join(dir, 'app.wsgi');
  writeFileSync(app, source);
  const log = AppLog.open({ file: join(dir, 'app.log'), maxBytes: 10 << 20, keep: 1 });
  return { app, log, logText: () => readFileSync(join(dir, 'app.log'), 'utf8') };
}

function makePool(limits: Partial<PoolLimits> = {}, python = systemPython!.path, source = APP) {
  const { app, log, logText } = makeApp(source);
  const pool = new Pool({ appFile: app, python, env: {}, limits: { ...LIMITS, ...limits }, log, ops: silentOpsLog });
  pools.push(pool);
  return { pool, logText };
}

async function get(pool: Pool, path: string, query = ''): Promise<DoneSink> {
  const sink = new DoneSink();
  pool.handle(
    { environ: environ({ PATH_INFO: path, QUERY_STRING: query }), body: null, contentLength: null, owner: true },
    sink,
  );
  await sink.done;
  return sink;
}

const pidOf = (sink: TestSink) => Number(sink.text.split(' ')[0]);

describe.skipIf(!systemPython)('pool', () => {
  it('recycles a worker after max_requests', async () => {
    const { pool, logText } = makePool({ maxRequests: 2, processes: 1 });
    const pids = [];
    for (let i = 0; i < 5; i++) pids.push(pidOf(await get(pool, '/')));
    expect(pids[0]).toBe(pids[1]);
    expect(pids[2]).not.toBe(pids[1]);
    expect(pids[2]).toBe(pids[3]);
    expect(pids[4]).not.toBe(pids[3]);
    expect(logText()).toMatch(/recycled after 2 requests \(max_requests\)/);
  });

  it('answers a request that waited past queue_timeout with 503, while the slow one runs on', async () => {
    const { pool, logText } = makePool({ processes: 1, queueTimeout: 1 });
    const gate = join(mkdtempSync(join(tmpdir(), 'wsgikit-gate-')), 'open');
    const slow = get(pool, '/slow', gate);
    await eventually(() => pool.snapshot().workers.some((w) => w.current !== null), 'the slow request to start');
    const started = Date.now();
    const waiting = await get(pool, '/'); // queued behind the slow one, in its process
    expect(waiting.failedWith?.code).toBe('WSGIKIT_OVERLOADED');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(logText()).toMatch(/waited 1 s for a free worker/);
    writeFileSync(gate, '');
    expect((await slow).status).toBe('200 OK');
    expect((await get(pool, '/')).status).toBe('200 OK');
  });

  it('stops each request that runs past request_timeout, however their deadlines interleave', async () => {
    const { pool, logText } = makePool({ processes: 2, requestTimeout: 1 });
    const gate = join(mkdtempSync(join(tmpdir(), 'wsgikit-gate-')), 'never');
    const first = get(pool, '/slow', gate);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const second = get(pool, '/slow', gate);
    const [a, b] = await Promise.all([first, second]);
    expect(a.failedWith?.code).toBe('WSGIKIT_REQUEST_TIMEOUT');
    expect(b.failedWith?.code).toBe('WSGIKIT_REQUEST_TIMEOUT');
    expect(logText().match(/timed out after 1 s \(request_timeout\)/g)).toHaveLength(2);
    expect((await get(pool, '/')).status).toBe('200 OK');
  });

  it('times requests by elapsed time: a clock stepped forward stops none early', async () => {
    const { pool } = makePool({ processes: 2, requestTimeout: 2 });
    const gate = join(mkdtempSync(join(tmpdir(), 'wsgikit-gate-')), 'never');
    const first = get(pool, '/slow', gate);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const second = get(pool, '/slow', gate);
    let secondDone = false;
    void second.then(() => (secondDone = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const wall = Date.now;
    const stepped = vi.spyOn(Date, 'now').mockImplementation(() => wall.call(Date) + 3_600_000);
    try {
      expect((await first).failedWith?.code).toBe('WSGIKIT_REQUEST_TIMEOUT');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(secondDone).toBe(false); // it has run about 1.2 s of its 2
      expect((await second).failedWith?.code).toBe('WSGIKIT_REQUEST_TIMEOUT');
    } finally {
      stepped.mockRestore();
    }
  });

  it('recycles a worker whose memory passed memory_limit_mb once it is idle', async () => {
    const { pool, logText } = makePool({ memoryLimitMb: 60, processes: 1 });
    const first = pidOf(await get(pool, '/grow', '80'));
    await eventually(() => /recycled: \d+ MiB resident, over memory_limit_mb/.test(logText()), 'the recycle');
    expect(pidOf(await get(pool, '/'))).not.toBe(first);
  });

  it('stops a request whose memory runs away past twice the limit, with evidence in the log', async () => {
    const { pool, logText } = makePool({ memoryLimitMb: 50, processes: 1 });
    const sink = await get(pool, '/runaway');
    expect(sink.failedWith?.code).toBe('WSGIKIT_WORKER_CRASHED');
    const incident = sink.failedWith!.incident!;
    await eventually(
      () => logText().includes(`incident ${incident}`) && logText().includes('wsgikit: stack dump'),
      'the dump',
    );
    expect(logText()).toMatch(/over 2× memory_limit_mb/);
    expect((await get(pool, '/')).status).toBe('200 OK');
  });

  it('recycles a worker that used its cpu_limit, after the request', async () => {
    const { pool, logText } = makePool({ cpuLimit: 1, processes: 1 });
    const burning = await get(pool, '/burn', '1.5');
    expect(burning.status).toBe('200 OK');
    const next = await get(pool, '/');
    expect(pidOf(next)).not.toBe(pidOf(burning));
    expect(logText()).toMatch(/recycled: it used its 1 s of CPU time \(cpu_limit\)/);
  });

  it('stops workers idle past idle_timeout, down to min_processes', async () => {
    const { pool } = makePool({ idleTimeout: 1, minProcesses: 0 });
    await get(pool, '/');
    expect(pool.snapshot().workers.length).toBe(1);
    await eventually(() => pool.snapshot().workers.length === 0, 'the idle worker to stop');
    expect(pool.idle).toBe(true);
  });

  it('reloads gracefully: the running request finishes on its old worker, new ones go to a new worker', async () => {
    const { pool } = makePool({ processes: 2 });
    const gate = join(tmpdir(), `wsgikit-gate-${process.pid}-${Date.now()}`);
    const slowSink = new DoneSink();
    pool.handle(
      { environ: environ({ PATH_INFO: '/slow', QUERY_STRING: gate }), body: null, contentLength: null, owner: true },
      slowSink,
    );
    await eventually(() => pool.snapshot().workers.some((w) => w.current === 'GET /slow'), 'the slow request');
    const oldPid = pool.snapshot().workers.find((w) => w.current === 'GET /slow')!.pid;
    pool.reload('test');
    const fresh = await get(pool, '/');
    expect(pidOf(fresh)).not.toBe(oldPid);
    writeFileSync(gate, '');
    await slowSink.done;
    expect(slowSink.status).toBe('200 OK');
    expect(pidOf(slowSink)).toBe(oldPid);
    await eventually(() => !pool.snapshot().workers.some((w) => w.pid === oldPid), 'the old worker to exit');
  });

  it('warm() starts one worker, tells every caller once it has loaded the app, and requests use it', async () => {
    const { pool, logText } = makePool();
    const warm = () => new Promise<LoadOutcome>((resolve) => pool.warm(resolve));
    const [first, second] = await Promise.all([warm(), warm()]);
    const pid = 'info' in first ? first.info.pid : -1;
    expect(pid).toBeGreaterThan(0);
    expect(second).toEqual(first);
    expect(await warm()).toEqual(first); // loaded already: no new worker
    expect(pool.snapshot().workers.map((w) => w.pid)).toEqual([pid]);
    expect(pidOf(await get(pool, '/'))).toBe(pid);
    expect(logText()).toContain('app loaded in');
  });

  it('warm() of an app that fails to import: the error, under the incident in its log', async () => {
    const { pool, logText } = makePool({}, systemPython!.path, 'import no_such_module_for_warm\n');
    const outcome = await new Promise<LoadOutcome>((resolve) => pool.warm(resolve));
    const error = 'error' in outcome ? outcome.error : null;
    expect(error?.code).toBe('WSGIKIT_APP_LOAD_FAILED');
    expect(logText()).toContain(`incident ${error?.incident}: the app failed to load`);
    // Until its retry is due, a second call gets the same failure without a new import.
    const again = await new Promise<LoadOutcome>((resolve) => pool.warm(resolve));
    expect('error' in again && again.error).toBe(error);
  });

  it('a request queued behind a slow one moves to the first worker that frees', async () => {
    const { pool } = makePool({ processes: 2, minProcesses: 2 });
    pool.preload();
    await eventually(() => pool.snapshot().workers.filter((w) => w.state === 'idle').length === 2, 'two workers');
    const gates = [0, 1].map((i) => join(tmpdir(), `wsgikit-gate-${process.pid}-${Date.now()}-${i}`));
    const slow = gates.map((gate) => {
      const sink = new DoneSink();
      pool.handle(
        { environ: environ({ PATH_INFO: '/slow', QUERY_STRING: gate }), body: null, contentLength: null, owner: true },
        sink,
      );
      return sink;
    });
    await eventually(() => pool.snapshot().workers.every((w) => w.current === 'GET /slow'), 'both workers busy');
    const fast = get(pool, '/fast');
    // Both are busy: it is written behind one of the slow requests, in that worker's process.
    const holder = await eventually(() => pool.snapshot().workers.find((w) => w.queued === 'GET /fast'), 'queued');
    // Requests go to idle workers in the pool's order, so the n-th gate holds the n-th worker.
    const workers = pool.snapshot().workers.map((w) => w.pid);
    const other = workers.find((pid) => pid !== holder.pid)!;
    // Free the other worker: the fast request is taken back from the busy process and runs there.
    writeFileSync(gates[workers.indexOf(other)]!, '');
    const answered = await fast;
    expect(pidOf(answered)).toBe(other);
    expect(answered.status).toBe('200 OK');
    for (const gate of gates) writeFileSync(gate, '');
    await Promise.all(slow.map((sink) => sink.done));
    expect(slow.map((sink) => sink.status)).toEqual(['200 OK', '200 OK']);
  });

  const other = pythons.find((p) => p.path !== systemPython?.path && p.major === 3 && p.implementation === 'CPython');
  it.skipIf(!other)('serves two apps on two Python versions from one manager at once', async () => {
    const manager = new PoolManager();
    pools.push(manager);
    const a = makeApp();
    const b = makeApp();
    const poolFor = (app: string, log: AppLog, python: string) =>
      manager.entry(
        { appFile: app, python, uid: 0 },
        () => new Pool({ appFile: app, python, env: {}, limits: LIMITS, log, ops: silentOpsLog }),
      ).pool;
    const [ra, rb] = await Promise.all([
      get(poolFor(a.app, a.log, systemPython!.path), '/'),
      get(poolFor(b.app, b.log, other!.path), '/'),
    ]);
    expect(manager.size).toBe(2);
    expect(ra.text.split(' ')[1]).toMatch(new RegExp(`^${systemPython!.major}\\.${systemPython!.minor}\\.`));
    expect(rb.text.split(' ')[1]).toMatch(new RegExp(`^${other!.major}\\.${other!.minor}\\.`));
    expect(poolFor(a.app, a.log, systemPython!.path)).toBe(poolFor(a.app, a.log, systemPython!.path));
  });
});
