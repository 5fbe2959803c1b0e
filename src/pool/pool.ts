// The process manager of one app (file + interpreter + user). Shaped like gunicorn's arbiter, in an
// event loop: every event (a request, a worker ready, idle or gone, a timer tick) ends in
// `reconcile()`, which hands waiting requests to idle workers and starts or stops workers to
// meet the queue and the minimum.
//
// The head-of-line promise: a request never waits behind a slow one while another worker is free.
// While every worker is busy, a request is queued behind a running one (written to that process, so
// it finds the request when it finishes and never waits for us), or waits in a bounded queue; the
// pool grows up to `processes` for both. A request queued in a process that has not started it is
// taken back for the first worker that is free, or a new one.

import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { Transform, type Readable } from 'node:stream';
import { WsgikitError, type ErrorCode } from '../errors.js';
import type { AppChroot } from '../app/chroot.js';
import type { AppSettings } from '../app/settings.js';
import type { AppRequest, ResponseSink } from '../exchange.js';
import type { AppLog } from '../logs/app-log.js';
import type { OpsLog } from '../ops-log.js';
import { BridgeProcess, type BridgeInfo, type RunOutcome } from '../python-bridge/bridge-process.js';
import { NO_FILES, type OffloadPolicy } from '../app/sendfile-settings.js';
import { Job, type FileAnswers } from './job.js';
import { PoolMetrics, type PoolMetricsSnapshot } from './pool-metrics.js';
import { residentBytes } from './process-stats.js';
import { ReloadTrigger } from './reload-trigger.js';
import { Worker, type StopReason } from './worker.js';

/** The settings the pool enforces; AppSettings carries them, so a loaded settings object fits. */
export type PoolLimits = Pick<
  AppSettings,
  | 'processes'
  | 'minProcesses'
  | 'queueSize'
  | 'queueTimeout'
  | 'requestTimeout'
  | 'startupTimeout'
  | 'idleTimeout'
  | 'maxRequests'
  | 'memoryLimitMb'
  | 'cpuLimit'
  | 'maxBodyBytes'
  | 'reloadCheckInterval'
>;

export interface PoolOptions {
  appFile: string;
  python: string;
  /** The app's os.environ. */
  env: Record<string, string>;
  limits: PoolLimits;
  /** Owned by the pool from now on: closed by `close()`. */
  log: AppLog;
  ops: OpsLog;
  /** One process per request, as under CGI (wsgi-run --cgi). */
  oneshot?: boolean;
  /** The host's chroot: workers start in it (python is then a path inside it). */
  chroot?: AppChroot | null;
  /** Which files the app may have sent (X-Sendfile) and who sends them. Default: none at all. */
  offload?: OffloadPolicy;
}

export interface PoolSnapshot {
  app: string;
  python: string;
  generation: number;
  queued: number;
  served: number;
  failure: string | null;
  workers: Array<{
    pid: number | undefined;
    state: string;
    generation: number;
    requests: number;
    rss: number | null;
    current: string | null;
    currentMs: number | null;
    /** The request queued behind the current one, which the process has not started. */
    queued: string | null;
  }>;
  limits: { processes: number; queueSize: number };
  metrics: PoolMetricsSnapshot;
}

/** How a `warm()` ended: the worker that loaded the app, or why it could not. */
export type LoadOutcome = { info: BridgeInfo } | { error: WsgikitError };

/** How often the pool looks at its workers (memory, idle time) while it has any. */
const TICK_MS = 1000;
/** Between the stack dump of a stuck request and the kill: time for the dump to reach the log. */
const DUMP_GRACE_MS = 1000;
/** A worker over its memory limit by this factor is stopped mid-request. */
const HARD_MEMORY_FACTOR = 2;
/** Longest wait before an app that failed to load is tried again (the file changing retries at once). */
const MAX_RETRY_MS = 30_000;

export class Pool {
  readonly appFile: string;
  readonly python: string;
  /** The app's log, owned by the pool; front ends add their own lines (explain mode). */
  readonly log: AppLog;
  /** Requests, restarts and incidents of the last minutes, for the status page. */
  private readonly metrics = new PoolMetrics();
  private readonly options: PoolOptions;
  private readonly limits: PoolLimits;
  private readonly _log: AppLog;
  private readonly ops: OpsLog;
  private readonly workers = new Set<Worker>();
  private readonly queue: Job[] = [];
  private readonly trigger: ReloadTrigger;
  private generation = 1;
  private served = 0;
  private failure: { error: WsgikitError; retryAt: number; count: number } | null = null;
  private tick: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  /** When deadlineTimer fires (Infinity: not armed). */
  private deadlineAt = Infinity;
  private closing = false;
  private lastInfo: string | null = null;
  private readonly files: FileAnswers;
  /** Told by `warm()` when a worker has loaded the app, or the load has failed. */
  private loadWaiters: Array<(outcome: LoadOutcome) => void> = [];

  constructor(options: PoolOptions) {
    this.options = options;
    this.appFile = options.appFile;
    this.python = options.python;
    this.log = options.log;
    this.limits = options.limits;
    this._log = options.log;
    this.ops = options.ops;
    this.trigger = new ReloadTrigger(options.appFile, options.limits.reloadCheckInterval);
    this.files = { policy: options.offload ?? NO_FILES, report: (summary) => this.incident(summary) };
  }

  /**
   * Starts workers now instead of on the first request, so the first visitor does not wait for
   * the import: at least `count` of them, and never fewer than min_processes.
   */
  preload(count = this.limits.minProcesses): void {
    const target = Math.min(this.limits.processes, Math.max(count, this.limits.minProcesses));
    if (!this.options.oneshot) while (this.live() < target) this.spawn();
    this.reconcile();
  }

  /**
   * Imports the app now, unless a worker has it already (wsgi-check --start, through the user's
   * CGI daemon), and tells `done` once a worker has loaded it or the load has failed.
   * A changed .wsgi or settings file is noticed first, as a request would notice it.
   */
  warm(done: (outcome: LoadOutcome) => void): void {
    if (this.closing) {
      process.nextTick(done, { error: shuttingDown() });
      return;
    }
    const now = Date.now();
    const changed = this.trigger.changed(now);
    if (changed) this.reload(`${changed} changed`);
    for (const worker of this.workers) {
      const loaded = worker.state === 'idle' || worker.state === 'busy';
      if (loaded && worker.generation === this.generation && worker.info !== null) {
        process.nextTick(done, { info: worker.info });
        return;
      }
    }
    if (this.failure && now < this.failure.retryAt) {
      process.nextTick(done, { error: this.failure.error });
      return;
    }
    this.loadWaiters.push(done);
    this.preload(1);
  }

  private loaded(outcome: LoadOutcome): void {
    const waiters = this.loadWaiters;
    if (waiters.length === 0) return;
    this.loadWaiters = [];
    for (const done of waiters) done(outcome);
  }

  handle(request: AppRequest, sink: ResponseSink): void {
    const now = Date.now();
    const job = new Job(request, sink, now, this.metrics, this.files);
    if (this.closing) {
      job.fail(new WsgikitError('WSGIKIT_SHUTTING_DOWN', 'The app is restarting; try again in a moment.'));
      return;
    }
    const changed = this.trigger.changed(now);
    if (changed) this.reload(`${changed} changed`);

    const max = this.limits.maxBodyBytes;
    if (max > 0 && request.contentLength !== null && request.contentLength > max) {
      job.fail(bodyTooLarge(request.contentLength, max));
      return;
    }
    if (this.failure && !this.options.oneshot) {
      if (now < this.failure.retryAt) {
        job.fail(this.failure.error);
        return;
      }
    }

    const idle = this.idleWorker();
    if (idle) {
      this.assign(idle, job);
      return;
    }
    const room = this.limits.processes - this.live();
    if (this.queue.length + this.queuedInWorkers() >= this.limits.queueSize + Math.max(0, room)) {
      this.overloaded(job, 'the queue is full');
      return;
    }
    this.setDeadline(job, this.limits.queueTimeout);
    const busy = this.queueingWorker(job);
    if (busy) this.queueIn(busy, job);
    else this.enqueue(job, false);
    this.reconcile();
  }

  private enqueue(job: Job, first: boolean): void {
    if (first) this.queue.unshift(job);
    else this.queue.push(job);
    job.onClose(() => {
      this.unqueue(job);
      job.clearDeadline();
    });
  }

  private waitedTooLong(job: Job): void {
    job.clearDeadline();
    for (const worker of this.workers) {
      if (worker.queued !== job) continue;
      this.takeBack(worker);
      if (worker.queued === job) return; // the process has started it: it is running
    }
    this.unqueue(job);
    this.overloaded(job, `it waited ${this.limits.queueTimeout} s for a free worker`);
  }

  /** Requests that came back from a process: first in the queue again, in their order. */
  private requeue(jobs: Job[]): void {
    for (let i = jobs.length - 1; i >= 0; i--) {
      const job = jobs[i]!;
      job.clearDeadline();
      if (job.finished) continue;
      this.setDeadline(job, this.limits.queueTimeout);
      this.enqueue(job, true);
    }
  }

  private takeBack(worker: Worker): void {
    this.requeue(worker.takeBack(Date.now()));
  }

  private retireOrStop(worker: Worker, reason: StopReason): void {
    const back = worker.retireOrStop(reason, Date.now());
    this.requeue(back);
  }

  /** New requests go to new workers; running requests finish on the old ones. */
  reload(reason: string): void {
    this.generation++;
    this.failure = null;
    this._log.write('wsgikit', `reloading the app: ${reason}`);
    this.metrics.restarted(null, reason);
    this.ops.info({ app: this.appFile, reason }, 'reloading');
    for (const worker of this.workers) this.retireOrStop(worker, 'reload');
    this.reconcile();
  }

  /**
   * Stops taking requests, lets running ones finish, then stops every worker and closes the log
   * (the pool owns the AppLog it was given).
   */
  async close(graceMs = this.limits.requestTimeout * 1000): Promise<void> {
    this.closing = true;
    this.loaded({ error: shuttingDown() });
    for (const job of this.queue.splice(0)) {
      job.clearDeadline();
      job.fail(shuttingDown());
    }
    const exits: Array<Promise<unknown>> = [];
    for (const worker of this.workers) {
      exits.push(worker.bridge.exited);
      for (const job of worker.retireOrStop('shutdown', Date.now())) {
        job.clearDeadline();
        job.fail(shuttingDown());
      }
    }
    const deadline = setTimeout(() => {
      for (const worker of this.workers) worker.bridge.kill('SIGKILL');
    }, graceMs);
    await Promise.all(exits);
    clearTimeout(deadline);
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.deadlineAt = Infinity;
    this.stopTick();
    this._log.close();
  }

  get idle(): boolean {
    return this.workers.size === 0 && this.queue.length === 0;
  }

  snapshot(): PoolSnapshot {
    const now = Date.now();
    return {
      app: this.appFile,
      python: this.python,
      generation: this.generation,
      queued: this.queue.length,
      served: this.served,
      failure: this.failure ? this.failure.error.message : null,
      workers: [...this.workers].map((w) => ({
        pid: w.pid,
        state: w.state,
        generation: w.generation,
        requests: w.requests,
        rss: w.rss,
        current: w.job ? w.job.label : null,
        currentMs: w.job ? now - w.job.enqueuedAt : null,
        queued: w.queued ? w.queued.label : null,
      })),
      limits: { processes: this.limits.processes, queueSize: this.limits.queueSize },
      metrics: this.metrics.snapshot(now),
    };
  }

  // --- the loop -------------------------------------------------------------------------------

  private reconcile(): void {
    if (this.options.oneshot) {
      while (this.queue.length > 0 && this.live() < this.limits.processes) {
        const job = this.queue.shift()!;
        job.clearDeadline();
        this.assign(this.spawn(), job);
      }
      return;
    }
    for (let worker = this.idleWorker(); worker; worker = this.idleWorker()) {
      // A free worker takes the oldest waiting request, else one queued in a busy process.
      if (this.queue.length === 0) this.takeBackQueued();
      if (this.queue.length === 0) break;
      const job = this.queue.shift()!;
      job.clearDeadline();
      this.assign(worker, job);
    }
    // Busy processes that can take a request behind the running one get the next waiting ones.
    for (let i = 0; i < this.queue.length;) {
      const job = this.queue[i]!;
      const busy = this.queueingWorker(job);
      if (busy === null) break;
      this.queue.splice(i, 1);
      this.queueIn(busy, job);
    }
    if (this.closing || (this.failure && Date.now() < this.failure.retryAt)) return;
    let starting = this.count('starting');
    while (this.queue.length + this.queuedInWorkers() > starting && this.live() < this.limits.processes) {
      this.spawn();
      starting++;
    }
    while (this.live() < this.limits.minProcesses) this.spawn();
  }

  /** Take back one request queued in a busy process, for a free worker. */
  private takeBackQueued(): void {
    for (const worker of this.workers) {
      if (worker.queued === null) continue;
      this.takeBack(worker);
      if (this.queue.length > 0) return;
    }
  }

  private queueingWorker(job: Job): Worker | null {
    for (const worker of this.workers) {
      if (worker.generation === this.generation && worker.canQueue(job)) return worker;
    }
    return null;
  }

  /** Write the request behind the one `worker` runs; its queue deadline holds until it starts. */
  private queueIn(worker: Worker, job: Job): void {
    worker.queue(job);
    const handed = ++job.handed;
    worker.bridge.queue(job.request, job, (outcome) => this.finished(worker, job, outcome, handed));
  }

  private queuedInWorkers(): number {
    let n = 0;
    for (const worker of this.workers) if (worker.queued !== null) n++;
    return n;
  }

  private spawn(): Worker {
    const now = Date.now();
    const bridge = BridgeProcess.start({
      python: this.python,
      appFile: this.appFile,
      mode: this.options.oneshot ? 'oneshot' : 'persistent',
      env: this.options.env,
      cpuLimitSeconds: this.limits.cpuLimit > 0 ? this.limits.cpuLimit : undefined,
      chroot: this.options.chroot ?? undefined,
      offloadFiles: this.files.policy.mode !== 'none',
      queueing: !this.options.oneshot,
      onOutput: (stream, line) => this._log.write(`${bridge.pid ?? '?'} ${stream}`, line),
    });
    const worker = new Worker(bridge, this.generation, now);
    this.workers.add(worker);
    this.startTick();
    void bridge.exited.then((status) => this.onExit(worker, status));
    if (this.options.oneshot) {
      // The request is written at once; a load failure comes back as that run's outcome.
      bridge.ready.catch(() => {});
      return worker;
    }

    worker.startTimer = setTimeout(() => {
      worker.startTimer = null;
      if (worker.state !== 'starting') return;
      const error = new WsgikitError(
        'WSGIKIT_APP_LOAD_FAILED',
        `The app took longer than ${this.limits.startupTimeout} s to load (startup_timeout); ` +
          'make its import faster or raise startup_timeout in its settings.',
      );
      bridge.dumpStacks();
      setTimeout(() => bridge.kill('SIGKILL'), DUMP_GRACE_MS).unref();
      this.loadFailed(worker, error);
    }, this.limits.startupTimeout * 1000);

    bridge.ready.then(
      (info) => {
        if (worker.startTimer) clearTimeout(worker.startTimer);
        worker.info = info;
        if (worker.state !== 'starting') return;
        worker.ready(Date.now());
        this.failure = null;
        const described = `${info.implementation} ${info.version} (${info.executable})`;
        if (described !== this.lastInfo) {
          this.lastInfo = described;
          this._log.write('wsgikit', `app loaded in ${info.importMs} ms by ${described}`);
          this.ops.info(
            { app: this.appFile, worker: info.pid, python: described, importMs: info.importMs },
            'app loaded',
          );
        }
        this.loaded({ info });
        this.reconcile();
      },
      (error: WsgikitError) => {
        if (worker.startTimer) clearTimeout(worker.startTimer);
        if (worker.state === 'starting') this.loadFailed(worker, error);
      },
    );
    return worker;
  }

  private assign(worker: Worker, job: Job): void {
    worker.assign(job);
    const request = this.limitBody(job);
    this.startRequestDeadline(job);
    const handed = ++job.handed;
    worker.bridge.run(request, job, (outcome) => this.finished(worker, job, outcome, handed));
  }

  private startRequestDeadline(job: Job): void {
    this.setDeadline(job, this.limits.requestTimeout);
  }

  // --- deadlines --------------------------------------------------------------------------------
  //
  // One timer per pool, set for the earliest deadline of its jobs, instead of a timer per job:
  // with a request at a time (mod_fcgid) Node made and dropped a timer list on every request. A
  // job's place tells which limit its deadline is: waiting (the queue, or queued in a process)
  // or running (a worker's job).

  // performance.now(), not Date.now(): a clock stepped by NTP or by hand must not stretch a limit
  // or make one fire early.
  private setDeadline(job: Job, seconds: number): void {
    const at = performance.now() + seconds * 1000;
    job.deadline = at;
    if (at < this.deadlineAt) this.armDeadlines(at);
  }

  private armDeadlines(at: number): void {
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.deadlineAt = at;
    this.deadlineTimer = setTimeout(this.onDeadline, Math.max(0, at - performance.now()));
    // A running request keeps the process alive by its worker; a stale deadline must not.
    this.deadlineTimer.unref();
  }

  private readonly onDeadline = (): void => {
    this.deadlineTimer = null;
    this.deadlineAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    const waited: Job[] = [];
    const ran: Array<[Worker, Job]> = [];
    const look = (job: Job | null, worker: Worker | null): void => {
      if (job === null || job.deadline === 0) return;
      if (job.deadline > now) next = Math.min(next, job.deadline);
      else if (worker === null) waited.push(job);
      else ran.push([worker, job]);
    };
    for (const job of this.queue) look(job, null);
    for (const worker of this.workers) {
      look(worker.queued, null);
      look(worker.job, worker);
    }
    if (next !== Infinity) this.armDeadlines(next);
    // Each may change the others' places (a take-back requeues): look again before acting.
    // A deadline acted on is cleared: a worker stopped over its request keeps it until it exits.
    for (const job of waited) if (job.deadline !== 0 && job.deadline <= now) this.waitedTooLong(job);
    for (const [worker, job] of ran) {
      if (job.deadline === 0 || job.deadline > now) continue;
      job.clearDeadline();
      this.timedOut(worker, job);
    }
  };

  private finished(worker: Worker, job: Job, outcome: RunOutcome, handed: number): void {
    if (outcome.ok && outcome.takenBack) {
      // Taken back by the bridge itself (its client left, or the process ended before starting
      // it); one the pool took back has already left this worker, and may be on its way again.
      if (handed === job.handed && worker.cameBack(job, Date.now())) {
        this.requeue([job]);
        this.reconcile();
      }
      return;
    }
    if (worker.job !== job) {
      // Queued, and refused before it was written (a NUL in its environ).
      worker.cameBack(job, Date.now());
      job.clearDeadline();
      if (!outcome.ok) job.fail(outcome.error);
      this.reconcile();
      return;
    }
    job.clearDeadline();
    this.served++;
    if (!outcome.ok) {
      const error = outcome.error;
      if (error.code === 'WSGIKIT_APP_LOAD_FAILED') {
        // Only in oneshot mode does a request meet a load failure: the process imports per request.
        this.reportLoadFailure(error);
      } else if (error.code === 'WSGIKIT_BAD_REQUEST') {
        // The client's body broke off (it went away, or sent a bad one): not the app's failure.
        this._log.write('wsgikit', `${job.label}: ${error.message}`);
      } else if (!job.stopped) {
        error.incident = this.incident(`${job.label}: ${error.message}`, error.ownerDetail);
      }
      job.fail(error);
    }
    const now = Date.now();
    if (worker.state !== 'busy') {
      // Timed out or killed meanwhile: its exit cleans up. A request it had already started after
      // this one runs on (and fails with the process).
      const next = worker.finished(now);
      if (next !== null) this.startRequestDeadline(next);
      return;
    }
    if (this.options.oneshot) {
      worker.stopping('oneshot');
    } else if (outcome.exitReason) {
      this.takeBack(worker);
      worker.stopping('recycled');
      const why = describeExitReason(outcome.exitReason, this.limits);
      this._log.write('wsgikit', `worker ${worker.pid} recycled: ${why}`);
      this.metrics.restarted(worker.pid, why);
    } else if (!outcome.ok && outcome.error.code === 'WSGIKIT_WORKER_CRASHED') {
      worker.stopping('crashed');
      this.metrics.restarted(worker.pid, outcome.error.message);
    } else if (worker.generation !== this.generation) {
      this.retireOrStop(worker, 'reload');
    } else if (
      worker.retiring === null &&
      this.limits.maxRequests > 0 &&
      worker.requests + 1 >= this.limits.maxRequests
    ) {
      this._log.write('wsgikit', `worker ${worker.pid} recycled after ${worker.requests + 1} requests (max_requests)`);
      this.metrics.restarted(worker.pid, `${worker.requests + 1} requests (max_requests)`);
      this.retireOrStop(worker, 'max_requests');
    }
    const next = worker.finished(now);
    if (next !== null) this.startRequestDeadline(next); // the process goes on with the queued one
    this.reconcile();
  }

  private timedOut(worker: Worker, job: Job): void {
    if (worker.job !== job) return;
    const seconds = this.limits.requestTimeout;
    // Also when the answer is complete or the client has gone: a worker stuck in close(), or in a
    // loop nobody waits for any more, is still stuck.
    this.stopMidRequest(
      worker,
      job,
      `timed out after ${seconds} s (request_timeout)${job.finished ? ', after its answer was complete or the client had gone' : ''}`,
      'WSGIKIT_REQUEST_TIMEOUT',
      `The request ran longer than ${seconds} s (request_timeout) and was stopped; the log shows where it was stuck.`,
    );
  }

  /**
   * Ends a request the app cannot finish: the incident first, then the Python stack of every
   * thread (the evidence), then the kill once the dump has had time to reach the log.
   */
  private stopMidRequest(worker: Worker, job: Job, why: string, code: ErrorCode, message: string): void {
    const incident = this.incident(
      `${job.label}: ${why}; the Python stack follows, then worker ${worker.pid} is stopped`,
    );
    this.metrics.restarted(worker.pid, why);
    job.stopped = true;
    this.takeBack(worker);
    worker.stopping('stuck');
    worker.bridge.dumpStacks();
    setTimeout(() => worker.bridge.kill('SIGKILL'), DUMP_GRACE_MS).unref();
    job.fail(new WsgikitError(code, message, { incident }));
    this.reconcile();
  }

  private loadFailed(worker: Worker, error: WsgikitError): void {
    worker.stopping('load-failed');
    this.reportLoadFailure(error);
    for (const job of this.queue.splice(0)) {
      job.clearDeadline();
      job.fail(error);
    }
    this.reconcile();
  }

  private reportLoadFailure(error: WsgikitError): void {
    if (this.failure?.error === error) return;
    const count = (this.failure?.count ?? 0) + 1;
    error.incident = this.incident(`the app failed to load: ${error.message}`, error.ownerDetail);
    this.ops.warn({ app: this.appFile, incident: error.incident, code: error.code }, 'app failed to load');
    const delay = Math.min(MAX_RETRY_MS, 1000 * 2 ** (count - 1));
    this.failure = { error, retryAt: Date.now() + delay, count };
    this.loaded({ error });
  }

  private onExit(worker: Worker, status: { code: number | null; signal: NodeJS.Signals | null }): void {
    const was = worker.exited();
    this.workers.delete(worker);
    if (was === 'idle' || was === 'busy') {
      const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
      this._log.write('wsgikit', `worker ${worker.pid} ended unexpectedly (${how})`);
      this.metrics.restarted(worker.pid, `ended unexpectedly (${how})`);
      this.ops.warn({ app: this.appFile, worker: worker.pid, ...status }, 'worker ended unexpectedly');
    }
    if (this.workers.size === 0) this.stopTick();
    if (!this.closing) this.reconcile();
  }

  // --- periodic checks ------------------------------------------------------------------------

  private startTick(): void {
    if (this.tick) return;
    this.tick = setInterval(() => this.onTick(), TICK_MS);
    this.tick.unref();
  }

  private stopTick(): void {
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
  }

  private onTick(): void {
    const now = Date.now();
    const limitBytes = this.limits.memoryLimitMb * 1024 * 1024;
    let live = this.live();
    for (const worker of this.workers) {
      if (worker.pid === undefined || worker.state === 'dead') continue;
      worker.rss = residentBytes(worker.pid);
      if (limitBytes > 0 && worker.rss !== null && worker.rss > limitBytes) this.overMemory(worker, limitBytes);
      if (
        worker.state === 'idle' &&
        live > this.limits.minProcesses &&
        now - worker.idleSince >= this.limits.idleTimeout * 1000
      ) {
        worker.stop('idle');
        live--;
      }
    }
  }

  private overMemory(worker: Worker, limitBytes: number): void {
    const mb = (bytes: number) => `${Math.round(bytes / 1048576)} MiB`;
    const rss = worker.rss!;
    if (worker.state === 'idle') {
      this._log.write(
        'wsgikit',
        `worker ${worker.pid} recycled: ${mb(rss)} resident, over memory_limit_mb ${mb(limitBytes)}`,
      );
      this.metrics.restarted(worker.pid, `${mb(rss)} resident, over memory_limit_mb ${mb(limitBytes)}`);
      worker.stop('memory');
    } else if (worker.state === 'busy' && rss > limitBytes * HARD_MEMORY_FACTOR && worker.job) {
      this.stopMidRequest(
        worker,
        worker.job,
        `worker reached ${mb(rss)}, over ${HARD_MEMORY_FACTOR}× memory_limit_mb (${mb(limitBytes)})`,
        'WSGIKIT_WORKER_CRASHED',
        `The request made the app use ${mb(rss)} of memory, more than ${HARD_MEMORY_FACTOR}× its ` +
          `memory_limit_mb of ${mb(limitBytes)}, so its process was stopped.`,
      );
    } else if (worker.state === 'busy' && worker.retiring === null) {
      this._log.write('wsgikit', `worker ${worker.pid} will be recycled after its request: ${mb(rss)} resident`);
      this.metrics.restarted(worker.pid, `${mb(rss)} resident, over memory_limit_mb ${mb(limitBytes)}`);
      this.retireOrStop(worker, 'memory');
    }
  }

  // --- helpers --------------------------------------------------------------------------------

  /** Writes an incident to the app's log and keeps it for the status page. */
  private incident(summary: string, detail?: string): string {
    const id = this._log.incident(summary, detail);
    this.metrics.incident(id, summary);
    return id;
  }

  private idleWorker(): Worker | null {
    for (const worker of this.workers) {
      if (worker.state === 'idle' && worker.generation === this.generation) return worker;
    }
    return null;
  }

  /** Workers that serve or will serve the current generation. */
  private live(): number {
    let n = 0;
    for (const w of this.workers) {
      if (w.generation === this.generation && (w.state === 'starting' || w.state === 'idle' || w.state === 'busy')) n++;
    }
    return n;
  }

  private count(state: Worker['state']): number {
    let n = 0;
    for (const w of this.workers) if (w.state === state && w.generation === this.generation) n++;
    return n;
  }

  private unqueue(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i !== -1) this.queue.splice(i, 1);
  }

  private overloaded(job: Job, why: string): void {
    this.ops.warn({ app: this.appFile, queued: this.queue.length }, 'overloaded');
    this._log.write('wsgikit', `${job.label}: answered 503 because ${why} (${this.live()} workers busy)`);
    job.fail(
      new WsgikitError(
        'WSGIKIT_OVERLOADED',
        `All ${this.limits.processes} worker processes were busy and ${why}; ` +
          'raise processes or queue_size in the settings if this happens often.',
      ),
    );
  }

  /** A body without a declared length is counted as it streams, and cut off at the limit. */
  private limitBody(job: Job): AppRequest {
    const { request } = job;
    const max = this.limits.maxBodyBytes;
    if (max <= 0 || request.body === null || request.contentLength !== null) return request;
    let seen = 0;
    const counted: Readable = request.body.pipe(
      new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          seen += chunk.length;
          if (seen > max) {
            job.fail(bodyTooLarge(seen, max));
            callback(new Error('request body over the limit'));
          } else {
            callback(null, chunk);
          }
        },
      }),
    );
    request.body.on('error', (error) => counted.destroy(error));
    return { ...request, body: counted };
  }
}

function shuttingDown(): WsgikitError {
  return new WsgikitError('WSGIKIT_SHUTTING_DOWN', 'The service is stopping; try again in a moment.');
}

function bodyTooLarge(size: number, max: number): WsgikitError {
  return new WsgikitError(
    'WSGIKIT_BODY_TOO_LARGE',
    `The request body (${size} bytes${size > max ? ' or more' : ''}) is over this app's limit of ${max} bytes; ` +
      'raise max_body_mb in its settings if it should accept more.',
  );
}

function describeExitReason(reason: string, limits: PoolLimits): string {
  if (reason === 'cpu-limit') return `it used its ${limits.cpuLimit} s of CPU time (cpu_limit)`;
  return reason;
}
