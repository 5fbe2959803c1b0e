import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BUSY_GROWTH_BYTES, IdleCollector, weakRefProbe } from '../../src/idle-gc.js';

const MB = 1024 * 1024;

describe('IdleCollector', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function collector(start = 10 * MB) {
    // byV8: V8 has run a full GC of its own since the probe was last armed.
    const state = { idle: false, used: start, collections: 0, byV8: false };
    const idle = new IdleCollector({
      isIdle: () => state.idle,
      everyMs: 1000,
      gc: () => {
        state.collections++;
        state.used = start;
      },
      heapUsed: () => state.used,
      fullGc: {
        arm: () => {
          state.byV8 = false;
        },
        fired: () => state.byV8,
      },
    });
    return { state, idle };
  }

  it('collects once the front end is idle after requests that grew the heap', () => {
    const { state, idle } = collector();
    idle.activity();
    state.used += 1.5 * MB; // more than the idle minimum, less than BUSY_GROWTH_BYTES
    vi.advanceTimersByTime(3000); // busy: nothing yet
    expect(state.collections).toBe(0);
    state.idle = true;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(1);
    // Idle from then on: no more looks and no more collections until a request comes.
    vi.advanceTimersByTime(60_000);
    expect(state.collections).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not collect when the heap has hardly grown since the last collection', () => {
    const { state, idle } = collector();
    idle.activity();
    state.used += MB / 2;
    state.idle = true;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    // The next burst adds to what the last one left.
    idle.activity();
    state.used += MB;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(1);
  });

  it('measures growth from a collection made on demand (the one after start-up)', () => {
    const state = { idle: false, used: 12 * MB, collections: 0 };
    const idle = new IdleCollector({
      isIdle: () => state.idle,
      gc: () => {
        state.collections++;
        state.used = 14 * MB; // more live than when the collector was made
      },
      heapUsed: () => state.used,
    });
    state.used = 20 * MB; // start-up garbage
    idle.collect();
    expect(state.collections).toBe(1);
    idle.activity();
    state.used += MB / 2; // 2.5 MB over the first figure, only 0.5 MB over the last collection's
    state.idle = true;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(1);
  });

  it('collects while busy only once the heap has grown by BUSY_GROWTH_BYTES, and goes on looking', () => {
    const { state, idle } = collector();
    idle.activity();
    state.used += BUSY_GROWTH_BYTES - 1;
    vi.advanceTimersByTime(5000);
    expect(state.collections).toBe(0);
    state.used += 1;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(1);
    // Still busy: the looks go on, and growth counts from this collection.
    expect(vi.getTimerCount()).toBe(1);
    state.used += BUSY_GROWTH_BYTES / 2;
    vi.advanceTimersByTime(5000);
    expect(state.collections).toBe(1);
    state.used += BUSY_GROWTH_BYTES / 2;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(2);
  });

  it('stands aside while busy when V8 has run a full GC of its own since the last look', () => {
    const { state, idle } = collector();
    idle.activity();
    // V8 collected, and requests promoted more than BUSY_GROWTH_BYTES since.
    state.byV8 = true;
    state.used += BUSY_GROWTH_BYTES * 2;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(0);
    // Growth now counts from that look: V8 did not collect again, but the heap has not grown.
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(0);
    state.used += BUSY_GROWTH_BYTES;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(1);
    // A collection of its own does not count as V8's at the next look.
    state.used += BUSY_GROWTH_BYTES;
    vi.advanceTimersByTime(1000);
    expect(state.collections).toBe(2);
  });

  it('tells a full GC from young ones with the WeakRef it uses by default', async () => {
    vi.useRealTimers();
    // A WeakRef keeps its target until the task that made or read it ends: each step is a task.
    const nextTask = () => new Promise((resolve) => setImmediate(resolve));
    // A gc() for this test alone: vitest does not run with --expose-gc.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
    const probe = weakRefProbe();
    await nextTask();
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    expect(probe.fired()).toBe(false);
    await nextTask();
    gc();
    expect(probe.fired()).toBe(true);
    probe.arm();
    expect(probe.fired()).toBe(false);
  });

  it('keeps one look pending however many requests come', () => {
    const { idle } = collector();
    for (let i = 0; i < 100; i++) idle.activity();
    expect(vi.getTimerCount()).toBe(1);
    idle.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never looks without a gc function (node run without --expose-gc)', () => {
    const idle = new IdleCollector({ isIdle: () => true, heapUsed: () => 100 * MB });
    if (globalThis.gc !== undefined) return; // vitest itself run with --expose-gc
    idle.activity();
    expect(vi.getTimerCount()).toBe(0);
  });
});
