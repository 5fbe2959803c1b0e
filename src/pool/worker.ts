// One Python process of a pool and its life cycle:
//   starting → idle ⇄ busy → stopping → dead
// `retire` marks a worker to stop once its current request is over (reload, recycling).

import type { BridgeInfo, BridgeProcess } from '../python-bridge/bridge-process.js';
import type { Job } from './job.js';

export type WorkerState = 'starting' | 'idle' | 'busy' | 'stopping' | 'dead';

export class Worker {
  readonly bridge: BridgeProcess;
  readonly generation: number;
  readonly startedAt: number;
  state: WorkerState = 'starting';
  info: BridgeInfo | null = null;
  job: Job | null = null;
  requests = 0;
  idleSince = 0;
  rss: number | null = null;
  /** Why this worker stops after its current request, or null. */
  retire: string | null = null;
  startTimer: NodeJS.Timeout | null = null;

  constructor(bridge: BridgeProcess, generation: number, now: number) {
    this.bridge = bridge;
    this.generation = generation;
    this.startedAt = now;
  }

  get pid(): number | undefined {
    return this.bridge.pid;
  }

  /** Graceful: the bridge finishes what it runs, then exits. */
  stop(reason: string): void {
    if (this.state === 'stopping' || this.state === 'dead') return;
    this.retire = reason;
    this.state = 'stopping';
    this.bridge.stop();
  }
}
