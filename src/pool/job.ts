// One request on its way through the pool. It owns the answer: whatever finishes first (the app,
// a timeout, the queue limit, a body over the limit) answers through the job, and everything
// after that is dropped, so a client never gets two answers or a page spliced into a body.

import type { WsgikitError } from '../errors.js';
import type { AppRequest, ResponseSink } from '../exchange.js';
import type { PoolMetrics } from './pool-metrics.js';

export class Job implements ResponseSink {
  readonly request: AppRequest;
  readonly enqueuedAt: number;
  /** Set once an answer has been given (end or fail). */
  finished = false;
  timer: NodeJS.Timeout | null = null;
  readonly #sink: ResponseSink;
  #onGone: (() => void) | null = null;
  readonly #metrics: PoolMetrics | undefined;
  /** First digit of the status the app started with (0: not started). */
  #statusClass = 0;

  constructor(request: AppRequest, sink: ResponseSink, now: number, metrics?: PoolMetrics) {
    this.request = request;
    this.#sink = sink;
    this.enqueuedAt = now;
    this.#metrics = metrics;
    sink.onClose(() => {
      if (this.finished) return;
      this.finished = true;
      this.#metrics?.requestEnded(Date.now() - this.enqueuedAt, 0);
      this.clearTimer();
      const gone = this.#onGone;
      this.#onGone = null;
      gone?.();
    });
  }

  /** "METHOD /path" for log lines. */
  get label(): string {
    const e = this.request.environ;
    return `${e.REQUEST_METHOD ?? '?'} ${(e.SCRIPT_NAME ?? '') + (e.PATH_INFO ?? '')}`;
  }

  get started(): boolean {
    return this.#sink.started;
  }

  start(status: string, headers: Array<[string, string]>): void {
    if (this.finished) return;
    this.#statusClass = status.charCodeAt(0) - 48;
    this.#sink.start(status, headers);
  }

  write(chunk: Buffer): boolean {
    return this.finished ? true : this.#sink.write(chunk);
  }

  onDrain(callback: () => void): void {
    this.#sink.onDrain(callback);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    this.#sink.end();
    this.#metrics?.requestEnded(Date.now() - this.enqueuedAt, this.#statusClass);
  }

  fail(error: WsgikitError): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    // Cut off after its head, an answer counts as a failure whatever its status said.
    const statusClass = this.#sink.started ? 5 : Math.floor(error.status / 100);
    this.#sink.fail(error);
    this.#metrics?.requestEnded(Date.now() - this.enqueuedAt, statusClass);
  }

  /** The client went away before an answer. Only one listener: whoever holds the job now. */
  onClose(callback: () => void): void {
    this.#onGone = callback;
  }

  clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
