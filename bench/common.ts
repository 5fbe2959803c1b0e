// Shared by the benchmark's parts: where things are, and how results are summarised.

import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The same interpreter for every target (never the pyenv shim on PATH). */
export const PYTHON = '/usr/bin/python3';

export interface Row {
  workload: string;
  target: string;
  value: number;
  unit: string;
  /** value / the reference target's value in the same workload and run. */
  ratio: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
