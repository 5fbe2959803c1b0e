// Runs one measurement on every target of a workload, round after round (interleaved, so a busy
// machine slows every target alike), watching each target's processes' memory meanwhile.

import { ROUNDS, log, median, type Row } from './common.js';
import { watchMemory, type MemoryPeaks } from './proc-memory.js';
import type { Target } from './targets.js';

export interface Sample {
  /** The round's figure (req/s, ms, s, count…). */
  value: number;
  /** Latencies in ms, where the run gives them. */
  p50?: number;
  p99?: number;
}

export interface Measured {
  target: Target;
  samples: Sample[];
  memory: MemoryPeaks[];
}

export async function interleaved(
  workload: string,
  targets: Target[],
  run: (target: Target) => Promise<Sample>,
  options: { rounds?: number; sampleEveryMs?: number } = {},
): Promise<Measured[]> {
  const rounds = options.rounds ?? ROUNDS;
  const results: Measured[] = targets.map((target) => ({ target, samples: [], memory: [] }));
  for (let round = 0; round < rounds; round++) {
    log(`${workload}: round ${round + 1}/${rounds}`);
    for (const result of results) {
      const watch = watchMemory(() => result.target.processes(), options.sampleEveryMs ?? 100);
      try {
        result.samples.push(await run(result.target));
      } finally {
        result.memory.push(watch.stop());
      }
    }
  }
  return results;
}

/** Rows: the median over rounds of each target's figure, its ratio to the first target's, memory peaks. */
export function rowsOf(
  workload: string,
  unit: string,
  measured: Measured[],
  value: (samples: Sample[]) => number = (s) => median(s.map((x) => x.value)),
): Row[] {
  const reference = value(measured[0]!.samples);
  return measured.map(({ target, samples, memory }) => {
    const v = value(samples);
    const max = (pick: (m: MemoryPeaks) => number) => {
      const values = memory.map(pick).filter((x) => !Number.isNaN(x));
      return values.length ? Math.max(...values) : undefined;
    };
    return {
      workload,
      target: target.name,
      value: v,
      unit,
      ratio: v / reference,
      p50: median(samples.map((s) => s.p50 ?? NaN)),
      p99: median(samples.map((s) => s.p99 ?? NaN)),
      frontEndMb: max((m) => m.frontEndMb),
      workerMb: max((m) => m.workerMb),
      frontEndGrowthMb: max((m) => m.frontEndGrowthMb),
      workerGrowthMb: max((m) => m.workerGrowthMb),
    };
  });
}
