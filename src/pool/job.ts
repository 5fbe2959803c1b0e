// One request on its way through the pool. It owns the answer: whatever finishes first (the app,
// a timeout, the queue limit, a body over the limit) answers through the job, and everything
// after that is dropped, so a client never gets two answers or a page spliced into a body.
//
// The answer and the worker end apart: a response is complete once its declared Content-Length
// has been delivered, and is ended then, in the same write as its last bytes (nginx keeps its
// FastCGI connection only if END_REQUEST comes before the client is done); the worker is free
// only when the bridge says so, after the iterable's close(). The request deadline is the pool's and
// holds until the worker is free.
//
// A response that names a file (X-Sendfile and kin) is answered by file-offload.ts once the file is
// checked: the app's own body is dropped as it comes, and the answer may outlive the worker.

import type { WsgikitError } from '../errors.js';
import type { AppRequest, ResponseHeaders, ResponseSink } from '../exchange.js';
import { isPlainDecimal } from '../environ/content-length.js';
import { replaceAppError } from '../pages/host-pages.js';
import type { OffloadPolicy } from '../app/sendfile-settings.js';
import { answerWithFile, hasOffloadHeader } from './file-offload.js';
import type { PoolMetrics } from './pool-metrics.js';

export class Job implements ResponseSink {
  readonly request: AppRequest;
  readonly enqueuedAt: number;
  /** Set once an answer has been given (end or fail), or the client has gone. */
  finished = false;
  /** The pool stopped the worker over this request (timeout, memory) and has reported it. */
  stopped = false;
  /** How many times the pool has handed it to a worker (a queued request may be taken back). */
  handed = 0;
  /**
   * When the pool stops waiting (performance.now() ms; 0: no limit runs): its queue_timeout while it
   * waits (in the pool's queue, or queued in a busy process), its request_timeout once a worker runs
   * it. The pool's one timer watches every deadline.
   */
  deadline = 0;
  /** Bytes of a declared Content-Length still to come, or null. */
  private remaining: number | null = null;
  private readonly sink: ResponseSink;
  private onGone: (() => void) | null = null;
  private readonly metrics: PoolMetrics | undefined;
  /** First digit of the status the app started with (0: not started). */
  private statusClass = 0;
  private readonly files: FileAnswers | undefined;
  /** The app named a file: from now on the answer is the file's, not the app's body. */
  private toFile = false;
  /** Stops sending a file when the answer ends early. */
  private fileAbort: (() => void) | null = null;

  constructor(request: AppRequest, sink: ResponseSink, now: number, metrics?: PoolMetrics, files?: FileAnswers) {
    this.request = request;
    this.sink = sink;
    this.enqueuedAt = now;
    this.metrics = metrics;
    this.files = files;
    sink.onClose(() => {
      if (this.finished) return;
      this.finished = true;
      this.metrics?.requestEnded(Date.now() - this.enqueuedAt, 0);
      this.abortFile();
      const gone = this.onGone;
      this.onGone = null;
      gone?.();
    });
  }

  /** "METHOD /path" for log lines. */
  get label(): string {
    const e = this.request.environ;
    return `${e.REQUEST_METHOD ?? '?'} ${(e.SCRIPT_NAME ?? '') + (e.PATH_INFO ?? '')}`;
  }

  get started(): boolean {
    return this.sink.started;
  }

  start(status: string, headers: ResponseHeaders): void {
    if (this.finished || this.toFile) return;
    if (this.files !== undefined && hasOffloadHeader(headers)) {
      this.toFile = true;
      const { policy, report } = this.files;
      const method = this.request.environ.REQUEST_METHOD;
      void answerWithFile({ status, headers, method, label: this.label }, policy, this.fileSink(), report);
      return;
    }
    this.startAnswer(status, headers);
  }

  private startAnswer(status: string, headers: ResponseHeaders): void {
    this.statusClass = status.charCodeAt(0) - 48;
    // override_app_errors: a stranger gets the host's page with the app's status and headers. The
    // answer is complete with it; the app's body is dropped as it comes, and the app runs on.
    const replaced = replaceAppError(this.request, status, headers);
    if (replaced !== null) {
      this.sink.start(status, replaced.headers);
      if (this.request.environ.REQUEST_METHOD !== 'HEAD') this.sink.write(replaced.body);
      this._end();
      return;
    }
    this.remaining = declaredLength(status, headers, this.request.environ.REQUEST_METHOD);
    this.sink.start(status, headers);
  }

  write(chunk: Buffer): boolean {
    if (this.finished || this.toFile) return true;
    return this._write(chunk);
  }

  private _write(chunk: Buffer): boolean {
    if (this.finished) return true;
    const more = this.sink.write(chunk);
    if (this.remaining !== null && (this.remaining -= chunk.length) <= 0) this._end();
    return more;
  }

  onDrain(callback: () => void): void {
    this.sink.onDrain(callback);
  }

  end(): void {
    if (!this.toFile) this._end();
  }

  private _end(): void {
    if (this.finished) return;
    this.finished = true;
    this.sink.end();
    this.metrics?.requestEnded(Date.now() - this.enqueuedAt, this.statusClass);
  }

  fail(error: WsgikitError): void {
    if (this.finished) return;
    this.finished = true;
    this.abortFile();
    // Cut off after its head, an answer counts as a failure whatever its status said.
    const statusClass = this.sink.started ? 5 : Math.floor(error.status / 100);
    this.sink.fail(error);
    this.metrics?.requestEnded(Date.now() - this.enqueuedAt, statusClass);
  }

  /** The client went away before an answer. Only one listener: whoever holds the job now. */
  onClose(callback: () => void): void {
    this.onGone = callback;
  }

  /** The file's answer: the Job's own delivery, past the app-facing methods that drop the app's body. */
  private fileSink(): ResponseSink {
    return {
      start: (status, headers) => {
        if (!this.finished) this.startAnswer(status, headers);
      },
      write: (chunk) => this._write(chunk),
      onDrain: (callback) => this.sink.onDrain(callback),
      end: () => this._end(),
      fail: (error) => this.fail(error),
      onClose: (callback) => {
        if (this.finished) callback();
        else this.fileAbort = callback;
      },
      get started() {
        return false;
      },
    };
  }

  private abortFile(): void {
    const abort = this.fileAbort;
    this.fileAbort = null;
    abort?.();
  }

  clearDeadline(): void {
    this.deadline = 0;
  }
}

/** What a pool gives its jobs to answer with files: the checks' policy, and where refusals are logged. */
export interface FileAnswers {
  policy: OffloadPolicy;
  /** Writes the line to the app's log; returns its incident id. */
  report(summary: string): string;
}

/** A body length the response promises, when there must be a body of that length. */
function declaredLength(status: string, headers: ResponseHeaders, method: string | undefined): number | null {
  if (method === 'HEAD' || status[0] === '1' || status.startsWith('204') || status.startsWith('304')) return null;
  for (const [name, value] of headers) {
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      return value.length <= 15 && isPlainDecimal(value) ? Number(value) : null;
    }
  }
  return null;
}
