// What one pool has done lately, for the status page: per second over the last ten minutes, how
// many requests ended, with which status class, and how long they took (a latency histogram, from
// which p50 and p95 are read); and the last restarts and incidents with their reasons.
//
// Recording a request is on the hot path: it is a few integer increments into typed arrays that
// are allocated once (on the first request, so a one-shot CGI pool that answers a status URL never
// pays for them), and no allocation per request. Reading (`snapshot`) may allocate freely.

/** Seconds kept: the charts cover the last ten minutes. */
export const WINDOW_SECONDS = 600;
/** Restarts and incidents kept, newest first. */
export const MAX_EVENTS = 20;

/**
 * Upper bounds of the latency buckets, in milliseconds; the last bucket has no bound. Roughly
 * 1-2-5 steps: a p95 read from them is within a bucket of the truth, which is what a chart shows.
 */
export const LATENCY_BOUNDS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000,
] as const;
const BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/**
 * How a request ended, as an index: 0 when the client went away before an answer, else the first
 * digit of the status (1 to 5). Anything else counts as 5.
 */
export type StatusClass = 0 | 1 | 2 | 3 | 4 | 5;
const CLASSES = 6;

export interface PoolEvent {
  /** Epoch milliseconds. */
  at: number;
  /** The worker it concerns, or null for the whole pool (a reload). */
  pid: number | null;
  reason: string;
}

export interface PoolIncident {
  at: number;
  id: string;
  summary: string;
}

/** One point of a series: `step` seconds that end at `end` (epoch seconds, exclusive). */
export interface SeriesPoint {
  end: number;
  requests: number;
  /** Answers by status class: [client gone, 1xx, 2xx, 3xx, 4xx, 5xx]. */
  byClass: number[];
  /** Milliseconds, null when no request ended in the step. */
  p50: number | null;
  p95: number | null;
}

export interface PoolMetricsSnapshot {
  /** Epoch seconds of the snapshot; the series ends here. */
  now: number;
  step: number;
  series: SeriesPoint[];
  /** Totals since the pool started. */
  totals: { requests: number; byClass: number[]; restarts: number; incidents: number };
  /** Over the last minute. */
  lastMinute: { requests: number; errors: number; p50: number | null; p95: number | null };
  restarts: PoolEvent[];
  incidents: PoolIncident[];
}

export class PoolMetrics {
  /** requests ended per second and class: slot * CLASSES + class. */
  private classes: Uint32Array | null = null;
  /** latency histogram per second: slot * BUCKETS + bucket. */
  private latency: Uint32Array | null = null;
  /** The epoch second of the newest slot written; slots older than WINDOW_SECONDS before it are stale. */
  private head = 0;
  private readonly totalByClass = new Float64Array(CLASSES);
  private restartCount = 0;
  private incidentCount = 0;
  private readonly restarts: PoolEvent[] = [];
  private readonly incidents: PoolIncident[] = [];

  /** A request got its answer (or lost its client) `ms` after it arrived. */
  requestEnded(ms: number, statusClass: number, now = Date.now()): void {
    const cls = statusClass >= 0 && statusClass < CLASSES ? statusClass | 0 : 5;
    const slot = this.slot(Math.floor(now / 1000));
    let bucket = 0;
    while (bucket < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[bucket]!) bucket++;
    this.classes![slot * CLASSES + cls]!++;
    this.latency![slot * BUCKETS + bucket]!++;
    this.totalByClass[cls]!++;
  }

  /** A worker was recycled or ended (pid), or the whole pool reloaded (pid null). */
  restarted(pid: number | null | undefined, reason: string, now = Date.now()): void {
    this.restartCount++;
    pushNewest(this.restarts, { at: now, pid: pid ?? null, reason });
  }

  /** An incident was written to the app's log under `id`. */
  incident(id: string, summary: string, now = Date.now()): void {
    this.incidentCount++;
    pushNewest(this.incidents, { at: now, id, summary });
  }

  /** The last WINDOW_SECONDS, summed into points of `step` seconds (a divisor of the window reads best). */
  snapshot(now = Date.now(), step = 10): PoolMetricsSnapshot {
    const nowSecond = Math.floor(now / 1000);
    const points = Math.ceil(WINDOW_SECONDS / step);
    const series: SeriesPoint[] = [];
    const histogram = new Float64Array(BUCKETS);
    const minute = new Float64Array(BUCKETS);
    let minuteRequests = 0;
    let minuteErrors = 0;
    // The window ends with the current second (inclusive): `end` is one past it.
    const end = nowSecond + 1;
    for (let p = 0; p < points; p++) {
      const pointEnd = end - (points - 1 - p) * step;
      const byClass = [0, 0, 0, 0, 0, 0];
      histogram.fill(0);
      for (let second = pointEnd - step; second < pointEnd; second++) {
        const slot = this.readable(second, nowSecond);
        if (slot === -1) continue;
        const inMinute = second > nowSecond - 60;
        for (let c = 0; c < CLASSES; c++) {
          const n = this.classes![slot * CLASSES + c]!;
          byClass[c]! += n;
          if (inMinute) {
            minuteRequests += n;
            if (c === 5) minuteErrors += n;
          }
        }
        for (let b = 0; b < BUCKETS; b++) {
          const n = this.latency![slot * BUCKETS + b]!;
          histogram[b]! += n;
          if (inMinute) minute[b]! += n;
        }
      }
      series.push({
        end: pointEnd,
        requests: sum(byClass),
        byClass,
        p50: quantile(histogram, 0.5),
        p95: quantile(histogram, 0.95),
      });
    }
    return {
      now: nowSecond,
      step,
      series,
      totals: {
        requests: sum(this.totalByClass),
        byClass: Array.from(this.totalByClass),
        restarts: this.restartCount,
        incidents: this.incidentCount,
      },
      lastMinute: {
        requests: minuteRequests,
        errors: minuteErrors,
        p50: quantile(minute, 0.5),
        p95: quantile(minute, 0.95),
      },
      restarts: this.restarts.map((event) => ({ ...event })),
      incidents: this.incidents.map((incident) => ({ ...incident })),
    };
  }

  /** The slot for writing `second`, after clearing the slots the clock has moved past. */
  private slot(second: number): number {
    if (this.classes === null) {
      this.classes = new Uint32Array(WINDOW_SECONDS * CLASSES);
      this.latency = new Uint32Array(WINDOW_SECONDS * BUCKETS);
      this.head = second;
    } else if (second > this.head) {
      const gap = Math.min(second - this.head, WINDOW_SECONDS);
      for (let s = second - gap + 1; s <= second; s++) {
        const slot = s % WINDOW_SECONDS;
        this.classes.fill(0, slot * CLASSES, slot * CLASSES + CLASSES);
        this.latency!.fill(0, slot * BUCKETS, slot * BUCKETS + BUCKETS);
      }
      this.head = second;
    } else if (second < this.head) {
      // The clock went back: count it in the newest second rather than in one already overwritten.
      second = this.head;
    }
    return second % WINDOW_SECONDS;
  }

  /** The slot holding `second`, or -1 when nothing was recorded for it (never, or rolled over). */
  private readable(second: number, nowSecond: number): number {
    if (this.classes === null || second > this.head || second > nowSecond) return -1;
    if (second <= this.head - WINDOW_SECONDS || second <= nowSecond - WINDOW_SECONDS) return -1;
    return second % WINDOW_SECONDS;
  }
}

/**
 * The q-quantile of a latency histogram in milliseconds, linear within its bucket; null when empty.
 * The open last bucket reports its lower bound.
 */
export function quantile(histogram: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let b = 0; b < histogram.length; b++) total += histogram[b]!;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let b = 0; b < histogram.length; b++) {
    const n = histogram[b]!;
    if (n > 0 && below + n >= rank) {
      const lower = b === 0 ? 0 : LATENCY_BOUNDS_MS[b - 1]!;
      const upper = LATENCY_BOUNDS_MS[b];
      if (upper === undefined) return lower;
      return lower + (upper - lower) * Math.max(0, Math.min(1, (rank - below) / n));
    }
    below += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}

function pushNewest<T>(list: T[], item: T): void {
  list.unshift(item);
  if (list.length > MAX_EVENTS) list.length = MAX_EVENTS;
}

function sum(values: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i]!;
  return total;
}
