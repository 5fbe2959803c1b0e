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
  /** Requests the round served (wrk's count), for CPU time per request. */
  requests?: number;
}

export interface Measured {
  target: Target;
  samples: Sample[];
  memory: MemoryPeaks[];
  /** Why a round's run failed, one entry per failed round. */
  failures: string[];
}

export async function interleaved(
  workload: string,
  targets: Target[],
  run: (target: Target) => Promise<Sample>,
  options: { rounds?: number; sampleEveryMs?: number } = {},
): Promise<Measured[]> {
  const rounds = options.rounds ?? ROUNDS;
  const results: Measured[] = targets.map((target) => ({ target, samples: [], memory: [], failures: [] }));
  for (let round = 0; round < rounds; round++) {
    log(`${workload}: round ${round + 1}/${rounds}`);
    for (const result of results) {
      const watch = watchMemory(() => result.target.processes(), options.sampleEveryMs ?? 100);
      try {
        result.samples.push(await run(result.target));
      } catch (error) {
        // A failed run counts as no figure for that round; the others go on, and the row says so.
        const message = (error as Error).message.split('\n')[0]!.slice(0, 160);
        log(`${workload}: ${result.target.name} failed: ${(error as Error).message.slice(0, 2000)}`);
        result.samples.push({ value: NaN });
        result.failures.push(message);
      } finally {
        result.memory.push(watch.stop());
      }
    }
  }
  return results;
}

/** The median over rounds of a round's CPU time per request served, µs (NaN without counts). */
function perRequest(memory: MemoryPeaks[], samples: Sample[], cpu: (m: MemoryPeaks) => number): number {
  return median(memory.map((m, i) => (cpu(m) * 1000) / (samples[i]?.requests ?? NaN)));
}

/** Rows: the median over rounds of each target's figure, its ratio to the first target's, memory peaks, CPU time. */
export function rowsOf(
  workload: string,
  unit: string,
  measured: Measured[],
  value: (samples: Sample[]) => number = (s) => median(s.map((x) => x.value)),
): Row[] {
  const reference = value(measured[0]!.samples);
  return measured.map(({ target, samples, memory, failures }) => {
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
      frontEndOwnMb: max((m) => m.frontEndOwnMb),
      frontEndFileMb: max((m) => m.frontEndFileMb),
      frontEndCpuMs: median(memory.map((m) => m.frontEndCpuMs)),
      workerCpuMs: median(memory.map((m) => m.workerCpuMs)),
      frontEndUsPerRequest: perRequest(memory, samples, (m) => m.frontEndCpuMs),
      workerUsPerRequest: perRequest(memory, samples, (m) => m.workerCpuMs),
      ...(failures.length > 0
        ? { note: `${failures.length} of ${samples.length} rounds failed (${failures[0]!.replace(/\|/g, '/')})` }
        : {}),
    };
  });
}
