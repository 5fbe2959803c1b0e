// All the pools of one front-end process, one per app identity (the .wsgi, its Python, the user
// it runs as), created on an app's first request and dropped once it has had no worker for a
// while. This is what lets one service serve every app of a hosting user, each on its own Python.

import type { Pool, PoolSnapshot } from './pool.js';

export interface AppIdentity {
  appFile: string;
  python: string;
  uid: number;
}

/** How often pools without workers are looked for. */
const REAP_INTERVAL_MS = 30_000;

/**
 * The manager's record of one pool. A caller that looks a pool up on every request may keep it and
 * mark it used itself, for as long as `dropped` is false.
 */
export interface PoolEntry {
  readonly pool: Pool;
  /** When it was first found without workers and waiting requests; null: in use. */
  idleSince: number | null;
  /** Retired or reaped: the next request needs entry() again. */
  dropped: boolean;
}

export class PoolManager {
  private readonly _pools = new Map<string, PoolEntry>();
  private readonly idleMs: number;
  private timer: NodeJS.Timeout | null = null;

  /** @param idleSeconds how long a pool may go without workers before it is dropped */
  constructor(idleSeconds = 600) {
    this.idleMs = idleSeconds * 1000;
  }

  /** The record of the pool for this identity (made by `create` on first use), marked in use. */
  entry(identity: AppIdentity, create: () => Pool): PoolEntry {
    const key = keyOf(identity);
    let entry = this._pools.get(key);
    if (!entry) {
      entry = { pool: create(), idleSince: null, dropped: false };
      this._pools.set(key, entry);
      this.startReaper();
    }
    entry.idleSince = null;
    return entry;
  }

  /** Drops the pool of this identity: it finishes what it runs, and the next request makes a new one. */
  retire(identity: AppIdentity): void {
    const key = keyOf(identity);
    const entry = this._pools.get(key);
    if (entry) void this.drop(key, entry);
  }

  pools(): Pool[] {
    return [...this._pools.values()].map((entry) => entry.pool);
  }

  get size(): number {
    return this._pools.size;
  }

  snapshot(): PoolSnapshot[] {
    return [...this._pools.values()].map((entry) => entry.pool.snapshot());
  }

  /** Drops pools that have had no worker and no waiting request for the idle time. */
  reap(now = Date.now()): void {
    for (const [key, entry] of this._pools) {
      if (!entry.pool.idle) {
        entry.idleSince = null;
      } else if (entry.idleSince === null) {
        entry.idleSince = now;
      } else if (now - entry.idleSince >= this.idleMs) {
        void this.drop(key, entry);
      }
    }
    if (this._pools.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this._pools].map(([key, entry]) => this.drop(key, entry)));
  }

  /** Forgets a pool (a caller keeping its record sees `dropped`) and lets it finish what it runs. */
  private drop(key: string, entry: PoolEntry): Promise<void> {
    this._pools.delete(key);
    entry.dropped = true;
    return entry.pool.close();
  }

  private startReaper(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.reap(), REAP_INTERVAL_MS);
    this.timer.unref();
  }
}

function keyOf(identity: AppIdentity): string {
  return `${identity.uid}\0${identity.python}\0${identity.appFile}`;
}
