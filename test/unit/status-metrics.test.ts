import { describe, expect, it } from 'vitest';
import { MAX_EVENTS, PoolMetrics, quantile, WINDOW_SECONDS } from '../../src/pool/pool-metrics.js';

const T0 = 1_800_000_000_000; // a whole second, in ms

describe('pool metrics: counters', () => {
  it('counts requests per status class, in totals and in the step they ended in', () => {
    const m = new PoolMetrics();
    m.requestEnded(3, 2, T0);
    m.requestEnded(4, 2, T0 + 400);
    m.requestEnded(9, 4, T0 + 900);
    m.requestEnded(30, 5, T0 + 1500);
    m.requestEnded(1, 0, T0 + 1600);
    const s = m.snapshot(T0 + 2000, 10);
    expect(s.totals.requests).toBe(5);
    expect(s.totals.byClass).toEqual([1, 0, 2, 0, 1, 1]);
    expect(s.series).toHaveLength(WINDOW_SECONDS / 10);
    const last = s.series.at(-1)!;
    expect(last.end).toBe(T0 / 1000 + 3);
    expect(last.requests).toBe(5);
    expect(last.byClass).toEqual([1, 0, 2, 0, 1, 1]);
    expect(s.series.slice(0, -1).every((p) => p.requests === 0 && p.p95 === null)).toBe(true);
    expect(s.lastMinute).toMatchObject({ requests: 5, errors: 1 });
  });

  it('treats an out-of-range status class as 5xx', () => {
    const m = new PoolMetrics();
    m.requestEnded(1, 9, T0);
    m.requestEnded(1, -3, T0);
    expect(m.snapshot(T0).totals.byClass[5]).toBe(2);
  });

  it('reads p50 and p95 from the latency histogram', () => {
    const m = new PoolMetrics();
    for (let i = 0; i < 95; i++) m.requestEnded(3, 2, T0); // bucket (2, 5]
    for (let i = 0; i < 5; i++) m.requestEnded(700, 2, T0); // bucket (500, 1000]
    const { lastMinute } = m.snapshot(T0);
    expect(lastMinute.p50).toBeGreaterThan(2);
    expect(lastMinute.p50).toBeLessThanOrEqual(5);
    expect(lastMinute.p95).toBeLessThanOrEqual(5);
    m.requestEnded(700, 2, T0);
    expect(m.snapshot(T0).lastMinute.p95).toBeGreaterThan(500);
  });

  it('quantile: null when empty, the lower bound in the open last bucket', () => {
    expect(quantile(new Array(16).fill(0), 0.5)).toBeNull();
    const open = new Array(16).fill(0);
    open[15] = 3;
    expect(quantile(open, 0.95)).toBe(60_000);
  });

  it('keeps the newest restarts and incidents, at most MAX_EVENTS, newest first', () => {
    const m = new PoolMetrics();
    for (let i = 0; i < MAX_EVENTS + 5; i++) {
      m.restarted(100 + i, `reason ${i}`, T0 + i);
      m.incident(`ID-${i}`, `summary ${i}`, T0 + i);
    }
    m.restarted(undefined, 'reload', T0 + 100);
    const s = m.snapshot(T0 + 200);
    expect(s.totals.restarts).toBe(MAX_EVENTS + 6);
    expect(s.totals.incidents).toBe(MAX_EVENTS + 5);
    expect(s.restarts).toHaveLength(MAX_EVENTS);
    expect(s.restarts[0]).toEqual({ at: T0 + 100, pid: null, reason: 'reload' });
    expect(s.restarts[1]!.reason).toBe(`reason ${MAX_EVENTS + 4}`);
    expect(s.incidents).toHaveLength(MAX_EVENTS);
    expect(s.incidents[0]).toEqual({
      at: T0 + MAX_EVENTS + 4,
      id: `ID-${MAX_EVENTS + 4}`,
      summary: `summary ${MAX_EVENTS + 4}`,
    });
  });
});

describe('pool metrics: the ring buffer', () => {
  it('forgets seconds older than the window, and keeps the rest', () => {
    const m = new PoolMetrics();
    m.requestEnded(1, 2, T0);
    m.requestEnded(1, 2, T0 + 300_000);
    // 599 s later the first second is still the oldest one in the window.
    let s = m.snapshot(T0 + 599_000, 1);
    expect(s.series).toHaveLength(WINDOW_SECONDS);
    expect(s.series.reduce((n, p) => n + p.requests, 0)).toBe(2);
    expect(s.series[0]!.requests).toBe(1);
    // One second more and it has rolled out, even though nothing was written over it.
    s = m.snapshot(T0 + 600_000, 1);
    expect(s.series.reduce((n, p) => n + p.requests, 0)).toBe(1);
    // Totals are not windowed.
    expect(s.totals.requests).toBe(2);
  });

  it('clears a slot when the clock comes round to it again', () => {
    const m = new PoolMetrics();
    m.requestEnded(1, 5, T0);
    m.requestEnded(1, 2, T0 + WINDOW_SECONDS * 1000); // the same slot, one window later
    const s = m.snapshot(T0 + WINDOW_SECONDS * 1000, 1);
    expect(s.series.at(-1)!.byClass).toEqual([0, 0, 1, 0, 0, 0]);
    expect(s.series.reduce((n, p) => n + p.requests, 0)).toBe(1);
  });

  it('starts afresh after a silence longer than the window', () => {
    const m = new PoolMetrics();
    for (let i = 0; i < 50; i++) m.requestEnded(1, 2, T0 + i * 1000);
    m.requestEnded(1, 4, T0 + 3_600_000);
    const s = m.snapshot(T0 + 3_600_000, 10);
    expect(s.series.reduce((n, p) => n + p.requests, 0)).toBe(1);
    expect(s.lastMinute).toMatchObject({ requests: 1, errors: 0 });
  });

  it('counts a request whose clock went back in the newest second', () => {
    const m = new PoolMetrics();
    m.requestEnded(1, 2, T0 + 5000);
    m.requestEnded(1, 2, T0);
    const s = m.snapshot(T0 + 5000, 1);
    expect(s.series.at(-1)!.requests).toBe(2);
  });

  it('shows nothing before the first request', () => {
    const s = new PoolMetrics().snapshot(T0);
    expect(s.series.every((p) => p.requests === 0)).toBe(true);
    expect(s.lastMinute).toEqual({ requests: 0, errors: 0, p50: null, p95: null });
  });
});
