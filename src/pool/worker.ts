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
  private _state: WorkerState = 'starting';
  private _job: Job | null = null;
  private _queued: Job | null = null;
  private _idleSince = 0;
  /** Why this worker stops after its current request, or null. */
  private retire: StopReason | null = null;

  constructor(bridge: BridgeProcess, generation: number, now: number) {
    this.bridge = bridge;
    this.generation = generation;
    this.startedAt = now;
  }

  get pid(): number | undefined {
    return this.bridge.pid;
  }

  get state(): WorkerState {
    return this._state;
  }

  /** The request it runs. */
  get job(): Job | null {
    return this._job;
  }

  /** The request written behind the running one. */
  get queued(): Job | null {
    return this._queued;
  }

  get idleSince(): number {
    return this._idleSince;
  }

  get retiring(): StopReason | null {
    return this.retire;
  }

  /** The app is loaded: ready for requests. */
  ready(now: number): void {
    if (this._state !== 'starting') return;
    this._state = 'idle';
    this._idleSince = now;
  }

  assign(job: Job): void {
    this._state = 'busy';
    this._job = job;
  }

  /** Whether a request may be queued behind the running one. */
  canQueue(job: Job): boolean {
    return this._state === 'busy' && this._queued === null && this.retire === null && this.bridge.canQueue(job.request);
  }

  queue(job: Job): void {
    this._queued = job;
  }

  /**
   * The running request is over. Returns the queued request, which the process runs next, or null
   * (the worker is idle, or stops if it was told to retire).
   */
  finished(now: number): Job | null {
    this._job = null;
    this.requests++;
    const next = this._queued;
    this._queued = null;
    if (next !== null) {
      this._job = next;
      return next;
    }
    if (this._state === 'busy') this.finishedNothing(now);
    return null;
  }

  /**
   * Takes back what the process has not started: the queued request, and the running one too when
   * that was queued and has not started either. Returns them, oldest first; the worker is idle (or
   * stops, when retiring) if it has nothing left to run.
   */
  takeBack(now: number): Job[] {
    if (this._state !== 'busy') return [];
    const sinks = this.bridge.takeBack();
    if (sinks.length === 0) return [];
    const back: Job[] = [];
    if (this._job !== null && sinks.includes(this._job)) {
      back.push(this._job);
      this._job = null;
    }
    if (this._queued !== null && sinks.includes(this._queued)) {
      back.push(this._queued);
      this._queued = null;
    }
    if (this._job === null && this._queued === null) this.finishedNothing(now);
    return back;
  }

  /** A request the process was given came back from it (taken back when its client left). */
  cameBack(job: Job, now: number): boolean {
    if (this._queued === job) {
      this._queued = null;
      return true;
    }
    if (this._job !== job) return false;
    this._job = this._queued;
    this._queued = null;
    if (this._job === null && this._state === 'busy') this.finishedNothing(now);
    return true;
  }

  private finishedNothing(now: number): void {
    if (this.retire !== null) this.stop(this.retire);
    else {
      this._state = 'idle';
      this._idleSince = now;
    }
  }

  /**
   * Stop now if idle or starting; if busy, once the running request is over (the queued one, if
   * the process has not started it, is taken back and returned for another worker).
   */
  retireOrStop(reason: StopReason, now: number): Job[] {
    if (this._state === 'busy') {
      this.retire ??= reason;
      return this.takeBack(now);
    }
    this.stop(reason);
    return [];
  }

  /** Graceful: the bridge finishes what it runs, then exits. */
  stop(reason: StopReason): void {
    if (this._state === 'stopping' || this._state === 'dead') return;
    this.retire = reason;
    this._state = 'stopping';
    this.bridge.stop();
  }

  /** The process ends on its own (or is being killed): take nothing more to it. */
  stopping(reason: StopReason): void {
    if (this._state === 'dead') return;
    this.retire ??= reason;
    this._state = 'stopping';
  }

  /** The process has exited. Returns the state it was in. */
  exited(): WorkerState {
    const was = this._state;
    this._state = 'dead';
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = null;
    return was;
  }
}
