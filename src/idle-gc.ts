// Full GCs at moments when no request waits for them. V8 runs a full GC only once its old
// generation reaches a limit well above what the front end keeps alive (the live heap plus several
// MB), and its own collection in idle time (the memory reducer) is armed only by a first full GC.
// So the dead objects that start-up leaves, and those each burst of requests promotes, stayed in
// the front end's private memory, which a host pays for per process, long after the burst was over.
// Both need --expose-gc (SERVICE_NODE_FLAGS): without the flag (tests that start the script bare)
// they do nothing.

import { getHeapStatistics } from 'node:v8';

/** A full GC after an idle spell only when the heap has grown at least this much since the last. */
const MIN_GROWTH_BYTES = 1024 * 1024;

const collect = globalThis.gc;

function heapUsed(): number {
  return getHeapStatistics().used_heap_size;
}

/** Collect what start-up left behind; call once, when ready to serve and before listening. */
export function collectStartupGarbage(): void {
  collect?.();
}

export interface IdleCollectorOptions {
  /** No request in flight, and none for a while. */
  isIdle(): boolean;
  /** How often to look while requests have come lately, ms. */
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
    this.gc = options.gc ?? collect;
    this.used = options.heapUsed ?? heapUsed;
    this.usedAfterGc = this.gc === undefined ? 0 : this.used();
  }

  /** A request began: make sure a look is due. */
  activity(): void {
    if (this.timer !== null || this.gc === undefined) return;
    this.timer = setInterval(this.look, this.options.everyMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly look = (): void => {
    if (!this.options.isIdle()) return;
    this.stop();
    if (this.used() - this.usedAfterGc < MIN_GROWTH_BYTES) return;
    this.gc!();
    this.usedAfterGc = this.used();
  };
}
