// Full GCs at moments chosen for them. V8 runs a full GC only once its old generation reaches a
// limit at least 8 MB above what survived the last one, and its own collection in idle time (the
// memory reducer) is armed only by a first full GC. Under a steady load the dead objects that
// requests promote (objects in flight at two young collections) pile up towards that limit, and
// the dead objects that start-up leaves stay: all of it in the front end's private memory, which a
// host pays for per process.
// It needs --expose-gc (SERVICE_NODE_FLAGS): without the flag (tests that start the script bare)
// this does nothing.
//
// A full GC stops the front end while it runs, and may throw away optimized code whose objects
// died, which V8 then compiles again on the main thread. So it runs after a quiet minute (a site
// whose burst is over) once the heap has grown a little, and during a busy spell only once the heap
// has grown by BUSY_GROWTH_BYTES, well short of V8's own limit.
//
// While busy, it stands aside whenever V8 has run a full GC of its own since the last look. That
// happens when requests promote fast: a new connection per request (mod_fcgid, nginx without
// keep-alive, every CGI request relayed to the daemon) promotes its socket's objects. V8 then keeps
// the heap within its limit by itself, and a collection forced from a timer, between two
// connections, throws away most of the optimized code of the connection path each time, to be
// compiled again. Over keep-alive connections requests promote slowly, V8 seldom collects, and
// these collections keep the heap small.

import { getHeapSpaceStatistics } from 'node:v8';

/** A full GC after an idle spell only when the heap has grown at least this much since the last. */
const MIN_GROWTH_BYTES = 1024 * 1024;

/** A full GC while busy when the heap has grown this much since the last. */
export const BUSY_GROWTH_BYTES = 2 * 1024 * 1024;

/** How often to look while requests have come lately, ms. */
const LOOK_MS = 5_000;

/** How long without requests counts as idle, ms. */
export const QUIET_MS = 60_000;

/** Tells whether a full GC has run since it was last armed. */
export interface FullGcProbe {
  arm(): void;
  fired(): boolean;
}

/**
 * A WeakRef whose target nothing else holds: V8 keeps such a target through its young collections
 * and clears it in the next full one, whoever started it. Reading it costs nothing per GC, unlike a
 * perf_hooks observer, which runs JavaScript after every young collection. Were a V8 ever to clear
 * it in young collections too, the busy collections would only stop, leaving V8's own.
 */
export function weakRefProbe(): FullGcProbe {
  let sentinel = new WeakRef({});
  return {
    arm: () => {
      sentinel = new WeakRef({});
    },
    fired: () => sentinel.deref() === undefined,
  };
}

/** Bytes in use outside the young generation, whose own collections keep it within a few MB. */
function heapUsed(): number {
  let used = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name !== 'new_space' && space.space_name !== 'new_large_object_space')
      used += space.space_used_size;
  }
  return used;
}

export interface IdleCollectorOptions {
  /** No request in flight, and none for a while. */
  isIdle(): boolean;
  /** How often to look while requests have come lately, ms (default: LOOK_MS). */
  everyMs?: number;
  gc?: () => void;
  heapUsed?: () => number;
  /** Whether a full GC has run since growth was last counted from (default: a WeakRef). */
  fullGc?: FullGcProbe;
}

/**
 * Collects once the front end has gone idle after requests, or while it is busy once the heap has
 * grown by BUSY_GROWTH_BYTES. It looks every `everyMs` only from a request on until the next idle
 * spell, so an idle process is not woken up for it.
 */
export class IdleCollector {
  private timer: NodeJS.Timeout | null = null;
  private readonly gc: (() => void) | undefined;
  private readonly used: () => number;
  private usedAfterGc: number;
  private readonly fullGc: FullGcProbe;

  constructor(private readonly options: IdleCollectorOptions) {
    this.gc = options.gc ?? globalThis.gc;
    this.used = options.heapUsed ?? heapUsed;
    this.usedAfterGc = this.gc === undefined ? 0 : this.used();
    this.fullGc = options.fullGc ?? weakRefProbe();
  }

  /** A full GC now: when start-up is done (before listening, so that no request waits for it). */
  collect(): void {
    if (this.gc === undefined) return;
    this.gc();
    this.usedAfterGc = this.used();
    this.fullGc.arm();
  }

  /** A request began: make sure a look is due. */
  activity(): void {
    if (this.timer !== null || this.gc === undefined) return;
    this.timer = setInterval(this.look, this.options.everyMs ?? LOOK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly look = (): void => {
    const used = this.used();
    const growth = used - this.usedAfterGc;
    if (!this.options.isIdle()) {
      if (this.fullGc.fired()) {
        // V8 collected since the last look: growth counts from here.
        this.fullGc.arm();
        this.usedAfterGc = used;
      } else if (growth >= BUSY_GROWTH_BYTES) this.collect();
      return;
    }
    this.stop();
    if (growth >= MIN_GROWTH_BYTES) this.collect();
  };
}
