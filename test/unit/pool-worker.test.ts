// The worker's life cycle, with a stand-in for its bridge: the pool only decides, the worker keeps
// its state (starting → idle ⇄ busy → stopping → dead), a queued request included.
import { describe, expect, it } from 'vitest';
import type { BridgeProcess } from '../../src/python-bridge/bridge-process.js';
import type { ResponseSink } from '../../src/exchange.js';
import type { Job } from '../../src/pool/job.js';
import { Worker } from '../../src/pool/worker.js';

class FakeBridge {
  stopped = 0;
  queueable = true;
  /** What takeBack() hands back next. */
  unclaimed: ResponseSink[] = [];
  readonly pid = 4242;
  canQueue(): boolean {
    return this.queueable;
  }
  takeBack(): ResponseSink[] {
    const back = this.unclaimed;
    this.unclaimed = [];
    return back;
  }
  stop(): void {
    this.stopped++;
  }
}

const job = (label: string): Job => ({ label, request: { body: null } }) as unknown as Job;

function started(): { worker: Worker; bridge: FakeBridge } {
  const bridge = new FakeBridge();
  const worker = new Worker(bridge as unknown as BridgeProcess, 1, 0);
  worker.ready(10);
  return { worker, bridge };
}

describe('Worker', () => {
  it('goes idle ⇄ busy, and runs a queued request next without going idle', () => {
    const { worker } = started();
    expect(worker.state).toBe('idle');
    const a = job('a');
    const b = job('b');
    worker.assign(a);
    expect(worker.canQueue(b)).toBe(true);
    worker.queue(b);
    expect(worker.canQueue(job('c'))).toBe(false); // one at a time
    expect(worker.finished(20)).toBe(b);
    expect(worker.state).toBe('busy');
    expect(worker.job).toBe(b);
    expect(worker.finished(30)).toBeNull();
    expect(worker.state).toBe('idle');
    expect(worker.idleSince).toBe(30);
    expect(worker.requests).toBe(2);
  });

  it('retireOrStop: stops an idle worker at once, a busy one after its request', () => {
    const idle = started();
    expect(idle.worker.retireOrStop('reload', 0)).toEqual([]);
    expect(idle.worker.state).toBe('stopping');
    expect(idle.bridge.stopped).toBe(1);

    const busy = started();
    busy.worker.assign(job('a'));
    busy.worker.retireOrStop('memory', 0);
    expect(busy.worker.state).toBe('busy');
    expect(busy.worker.retiring).toBe('memory');
    expect(busy.worker.canQueue(job('b'))).toBe(false); // a retiring worker takes nothing more
    expect(busy.worker.finished(5)).toBeNull();
    expect(busy.worker.state).toBe('stopping');
    expect(busy.bridge.stopped).toBe(1);
  });

  it('retireOrStop takes back the queued request the process has not started', () => {
    const { worker, bridge } = started();
    const a = job('a');
    const b = job('b');
    worker.assign(a);
    worker.queue(b);
    bridge.unclaimed = [b];
    expect(worker.retireOrStop('shutdown', 0)).toEqual([b]);
    expect(worker.queued).toBeNull();
    expect(worker.job).toBe(a);
    expect(worker.finished(1)).toBeNull();
    expect(worker.state).toBe('stopping');
  });

  it('a queued request the process has started stays, and runs before the worker stops', () => {
    const { worker, bridge } = started();
    const b = job('b');
    worker.assign(job('a'));
    worker.queue(b);
    expect(worker.retireOrStop('reload', 0)).toEqual([]); // its token was read: it is running next
    expect(worker.finished(1)).toBe(b);
    expect(worker.finished(2)).toBeNull();
    expect(worker.state).toBe('stopping');
    expect(bridge.stopped).toBe(1);
  });

  it('goes idle when both its requests come back (the running one had not started either)', () => {
    const { worker, bridge } = started();
    const a = job('a');
    const b = job('b');
    worker.assign(a);
    worker.queue(b);
    bridge.unclaimed = [a, b];
    expect(worker.takeBack(7)).toEqual([a, b]);
    expect(worker.state).toBe('idle');
    expect(worker.job).toBeNull();
  });

  it('cameBack: a request the bridge gave back by itself (its client left)', () => {
    const { worker } = started();
    const a = job('a');
    const b = job('b');
    worker.assign(a);
    worker.queue(b);
    expect(worker.cameBack(job('other'), 0)).toBe(false);
    expect(worker.cameBack(b, 0)).toBe(true);
    expect(worker.queued).toBeNull();
    expect(worker.state).toBe('busy');
  });

  it('a process that ends on its own takes nothing more, and is dead after its exit', () => {
    const { worker } = started();
    worker.assign(job('a'));
    worker.stopping('crashed');
    expect(worker.state).toBe('stopping');
    expect(worker.canQueue(job('b'))).toBe(false);
    expect(worker.exited()).toBe('stopping');
    expect(worker.state).toBe('dead');
  });
});
