// One Python process of a pool and its life cycle:
//   starting → idle ⇄ busy → stopping → dead
// A busy worker may also hold one queued request, written behind the running one so that the
// process finds it when it finishes; the pool takes it back for another worker while the process
// has not started it. The worker keeps its own state; the pool only decides.

import type { BridgeInfo, BridgeProcess } from '../python-bridge/bridge-process.js';
import type { Job } from './job.js';

export type WorkerState = 'starting' | 'idle' | 'busy' | 'stopping' | 'dead';

/** Why a worker stops (or will stop after its request). */
export type StopReason =
  | 'reload'
  | 'shutdown'
  | 'memory'
  | 'idle'
  | 'max_requests'
  /** The bridge said it exits after this request (cpu-limit). */
  | 'recycled'
  /** The process died during a request. */
  | 'crashed'
  /** Stopped in the middle of a request: timeout, or far over its memory limit. */
  | 'stuck'
  | 'load-failed'
  /** One process per request (wsgi-run --cgi). */
  | 'oneshot';

export class Worker {
  readonly bridge: BridgeProcess;
  readonly generation: number;
  readonly startedAt: number;
  info: BridgeInfo | null = null;
  requests = 0;
  rss: number | null = null;
  startTimer: NodeJS.Timeout | null = null;
  #state: WorkerState = 'starting';
  #job: Job | null = null;
  #queued: Job | null = null;
  #idleSince = 0;
  /** Why this worker stops after its current request, or null. */
  #retire: StopReason | null = null;

  constructor(bridge: BridgeProcess, generation: number, now: number) {
    this.bridge = bridge;
    this.generation = generation;
    this.startedAt = now;
  }

  get pid(): number | undefined {
    return this.bridge.pid;
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** The request it runs. */
  get job(): Job | null {
    return this.#job;
  }

  /** The request written behind the running one. */
  get queued(): Job | null {
    return this.#queued;
  }

  get idleSince(): number {
    return this.#idleSince;
  }

  get retiring(): StopReason | null {
    return this.#retire;
  }

  /** The app is loaded: ready for requests. */
  ready(now: number): void {
    if (this.#state !== 'starting') return;
    this.#state = 'idle';
    this.#idleSince = now;
  }

  assign(job: Job): void {
    this.#state = 'busy';
    this.#job = job;
  }

  /** Whether a request may be queued behind the running one. */
  canQueue(job: Job): boolean {
    return (
      this.#state === 'busy' && this.#queued === null && this.#retire === null && this.bridge.canQueue(job.request)
    );
  }

  queue(job: Job): void {
    this.#queued = job;
  }

  /**
   * The running request is over. Returns the queued request, which the process runs next, or null
   * (the worker is idle, or stops if it was told to retire).
   */
  finished(now: number): Job | null {
    this.#job = null;
    this.requests++;
    const next = this.#queued;
    this.#queued = null;
    if (next !== null) {
      this.#job = next;
      return next;
    }
    if (this.#state === 'busy') this.#finishedNothing(now);
    return null;
  }

  /**
   * Takes back what the process has not started: the queued request, and the running one too when
   * that was queued and has not started either. Returns them, oldest first; the worker is idle (or
   * stops, when retiring) if it has nothing left to run.
   */
  takeBack(now: number): Job[] {
    if (this.#state !== 'busy') return [];
    const sinks = this.bridge.takeBack();
    if (sinks.length === 0) return [];
    const back: Job[] = [];
    if (this.#job !== null && sinks.includes(this.#job)) {
      back.push(this.#job);
      this.#job = null;
    }
    if (this.#queued !== null && sinks.includes(this.#queued)) {
      back.push(this.#queued);
      this.#queued = null;
    }
    if (this.#job === null && this.#queued === null) this.#finishedNothing(now);
    return back;
  }

  /** A request the process was given came back from it (taken back when its client left). */
  cameBack(job: Job, now: number): boolean {
    if (this.#queued === job) {
      this.#queued = null;
      return true;
    }
    if (this.#job !== job) return false;
    this.#job = this.#queued;
    this.#queued = null;
    if (this.#job === null && this.#state === 'busy') this.#finishedNothing(now);
    return true;
  }

  #finishedNothing(now: number): void {
    if (this.#retire !== null) this.stop(this.#retire);
    else {
      this.#state = 'idle';
      this.#idleSince = now;
    }
  }

  /**
   * Stop now if idle or starting; if busy, once the running request is over (the queued one, if
   * the process has not started it, is taken back and returned for another worker).
   */
  retireOrStop(reason: StopReason, now: number): Job[] {
    if (this.#state === 'busy') {
      this.#retire ??= reason;
      return this.takeBack(now);
    }
    this.stop(reason);
    return [];
  }

  /** Graceful: the bridge finishes what it runs, then exits. */
  stop(reason: StopReason): void {
    if (this.#state === 'stopping' || this.#state === 'dead') return;
    this.#retire = reason;
    this.#state = 'stopping';
    this.bridge.stop();
  }

  /** The process ends on its own (or is being killed): take nothing more to it. */
  stopping(reason: StopReason): void {
    if (this.#state === 'dead') return;
    this.#retire ??= reason;
    this.#state = 'stopping';
  }

  /** The process has exited. Returns the state it was in. */
  exited(): WorkerState {
    const was = this.#state;
    this.#state = 'dead';
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    return was;
  }
}
