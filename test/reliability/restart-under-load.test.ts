// wsgi-fcgi restarted under load: SIGHUP (recycle the workers) and SIGTERM (drain and exit) while
// a bounded stream of concurrent requests runs. No request in flight is dropped.
//
// The rule for SIGTERM (also in test/RELIABILITY.md): every request whose connection was accepted
// before the signal completes with 200. A request that starts after it either still completes
// with 200 (the listener closes a moment later) or is refused at connect (ENOENT / ECONNREFUSED:
// the socket is gone), which a web server turns into its own 502 and may retry elsewhere. What
// must never happen: a connection that was accepted and then cut off without an answer, or an
// answer other than 200.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appFolder, eventually, type AppFolder } from '../helpers/wsgi-run.js';
import { WSGI_FCGI } from '../helpers/servers.js';
import { childrenOf, fcgi, fcgiParams, sleep, type FcgiAnswer } from './lib.js';

const APP = `
import os, time
def application(environ, start_response):
    query = dict(p.split('=', 1) for p in environ['QUERY_STRING'].split('&') if '=' in p)
    time.sleep(int(query.get('ms', '0')) / 1000.0)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %d' % (query.get('id'), os.getpid())).encode()]
`;

interface Sent {
  id: string;
  /** Started after the signal was sent. */
  late: boolean;
  /** Started once the signal had been handled (logged) and a moment had passed. */
  settled: boolean;
  answer: FcgiAnswer;
}

describe('wsgi-fcgi restarted under load', () => {
  let folder: AppFolder;
  let child: ChildProcess;
  let out = '';
  let exitCode: Promise<number | null>;
  let socket: string;
  let total = 0;

  beforeAll(async () => {
    folder = appFolder(APP, { processes: 3, min_processes: 3, queue_size: 50 });
    socket = join(folder.dir, 'load.sock');
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    child = spawn(process.execPath, [WSGI_FCGI, '--listen', socket, '--app', folder.app], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    exitCode = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await eventually(() => out.includes('wsgi-fcgi ready'), 'wsgi-fcgi ready');
  });

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exitCode;
    console.log(`[reliability] restart-under-load: requests ${total}`);
  });

  /**
   * `clients` loops of sequential requests (each ≤ `perClient`) until `stop()` says so; the
   * signal flag marks requests started after it. A refused connect ends that client's loop.
   */
  function load(
    clients: number,
    perClient: number,
    ms: number,
    flag: { sent: boolean; settled?: boolean; stop: boolean; settledAnswers?: number },
  ) {
    let n = 0;
    const runs = Array.from({ length: clients }, async (_, c) => {
      const sent: Sent[] = [];
      for (let i = 0; i < perClient && !flag.stop; i++) {
        const id = `c${c}-${i}-${n++}`;
        const late = flag.sent;
        const settled = flag.settled === true;
        const answer = await fcgi(socket, fcgiParams(folder.app, '/work', {}, `id=${id}&ms=${ms}`));
        sent.push({ id, late, settled, answer });
        if (settled) flag.settledAnswers = (flag.settledAnswers ?? 0) + 1;
        if (answer.how === 'refused') break;
      }
      return sent;
    });
    return Promise.all(runs).then((lists) => lists.flat());
  }

  it('SIGHUP: every request of the stream answered 200 with its own id, and later ones by new workers', async () => {
    const flag = { sent: false, settled: false, stop: false, settledAnswers: 0 };
    const running = load(4, 80, 20, flag);
    // Counted, not timed: on a loaded machine the pool takes longer to grow to its three workers.
    await eventually(() => childrenOf(child.pid!).length === 3, 'three workers under load');
    const oldWorkers = new Set(childrenOf(child.pid!));
    flag.sent = true;
    child.kill('SIGHUP');
    await eventually(() => out.includes('SIGHUP'), 'the SIGHUP in the log');
    await sleep(200);
    flag.settled = true;
    await eventually(() => flag.settledAnswers >= 8, 'eight answers after the reload');
    flag.stop = true;
    const sent = await running;
    total += sent.length;
    for (const { id, answer } of sent) {
      expect(answer.how, id).toBe('ok');
      expect(answer.status, id).toBe(200);
      expect(answer.body.toString().split(' ')[0]).toBe(id);
    }
    const pid = (s: Sent) => Number(s.answer.body.toString().split(' ')[1]);
    const after = sent.filter((s) => s.settled).map(pid);
    expect(after.length).toBeGreaterThanOrEqual(4);
    // Requests after the SIGHUP was handled were served by workers that did not exist before it.
    for (const p of after) expect(oldWorkers.has(p)).toBe(false);
    expect(sent.filter((s) => s.late).length).toBeGreaterThanOrEqual(4);
  });

  it('SIGTERM: requests in flight finish with 200, later ones 200 or refused at connect, none dropped; exit 0', async () => {
    const flag = { sent: false, stop: false };
    // Slower requests, so that several are in flight (running or queued) when the signal comes.
    const running = load(6, 60, 150, flag);
    await sleep(500);
    flag.sent = true;
    child.kill('SIGTERM');
    const sent = await running;
    total += sent.length;
    const early = sent.filter((s) => !s.late);
    const late = sent.filter((s) => s.late);
    expect(early.length).toBeGreaterThan(6);
    for (const { id, answer } of early) {
      expect(answer.how, `${id} ${answer.error ?? ''}`).toBe('ok');
      expect(answer.status).toBe(200);
      expect(answer.body.toString().split(' ')[0]).toBe(id);
    }
    for (const { id, answer } of late) {
      expect(['ok', 'refused'], `${id} ${answer.error ?? ''}`).toContain(answer.how);
      if (answer.how === 'ok') {
        expect(answer.status).toBe(200);
        expect(answer.body.toString().split(' ')[0]).toBe(id);
      }
    }
    // Every client ended on a refusal: the service stopped taking connections.
    expect(late.filter((s) => s.answer.how === 'refused')).toHaveLength(6);
    expect(await exitCode).toBe(0);
    expect(out).toContain('stopping: finishing requests in flight');
  });
});
