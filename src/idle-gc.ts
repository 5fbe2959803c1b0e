// Full GCs at moments when no request waits for them. V8 runs a full GC only once its old
// generation reaches a limit well above what the front end keeps alive (the live heap plus several
// MB), and its own collection in idle time (the memory reducer) is armed only by a first full GC.
// So the dead objects that start-up leaves, and those each burst of requests promotes, would stay
// in the front end's private memory, which a host pays for per process, long after a burst.
// It needs --expose-gc (SERVICE_NODE_FLAGS): without the flag (tests that start the script bare)
// this does nothing.
//
// A full GC also throws away much of the optimized code (objects it was compiled against die), so
// the next requests run slower while V8 compiles it again, on the main thread. Worth it after a
// quiet minute (a site whose burst is over), not in the gaps of a busy one: hence QUIET_MS.

import { getHeapStatistics } from 'node:v8';

/** A full GC after an idle spell only when the heap has grown at least this much since the last. */
const MIN_GROWTH_BYTES = 1024 * 1024;

/** How long without requests counts as idle, ms. */
export const QUIET_MS = 60_000;

function heapUsed(): number {
  return getHeapStatistics().used_heap_size;
}

export interface IdleCollectorOptions {
  /** No request in flight, and none for a while. */
  isIdle(): boolean;
  /** How often to look while requests have come lately, ms (default: a sixth of QUIET_MS). */
  everyMs?: number;
  gc?: () => void;
  heapUsed?: () => number;
}

/**
 * Collects once the front end has gone idle after requests. It looks every `everyMs` only from a
 * request on until the next idle spell, so an idle process is not woken up for it.
 */
export class IdleCollector {
  private timer: NodeJS.Timeout | null = null;
  private readonly gc: (() => void) | undefined;
  private readonly used: () => number;
  private usedAfterGc: number;

  constructor(private readonly options: IdleCollectorOptions) {
    this.gc = options.gc ?? globalThis.gc;
    this.used = options.heapUsed ?? heapUsed;
    this.usedAfterGc = this.gc === undefined ? 0 : this.used();
  }

  /** A full GC now: when start-up is done (before listening, so that no request waits for it). */
  collect(): void {
    if (this.gc === undefined) return;
    this.gc();
    this.usedAfterGc = this.used();
  }

  /** A request began: make sure a look is due. */
  activity(): void {
    if (this.timer !== null || this.gc === undefined) return;
    this.timer = setInterval(this.look, this.options.everyMs ?? QUIET_MS / 6);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly look = (): void => {
    if (!this.options.isIdle()) return;
    this.stop();
    if (this.used() - this.usedAfterGc >= MIN_GROWTH_BYTES) this.collect();
  };
}
