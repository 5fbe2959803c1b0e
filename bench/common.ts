// Shared by the benchmark's parts: where things are, the knobs, the result rows, and how results
// are summarised.

import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The same interpreter for every target (never the pyenv shim on PATH). */
export const PYTHON = '/usr/bin/python3';

export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Sequential requests per target and round (CGI workloads). */
export const PER_ROUND = Number(process.env.BENCH_PER_ROUND ?? 10);
/** Seconds of load per target and round (FastCGI workloads). */
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

/** Every workload, in the order they run; BENCH_ONLY picks some by name or group (cgi, fcgi…). */
export const WORKLOADS = [
  'cgi-hello',
  'cgi-flask',
  'fcgi-hello',
  'fcgi-flask',
  'memory',
  'head-of-line',
  'upload',
  'upload-chunked',
  'download',
  'download-1g',
] as const;
export type Workload = (typeof WORKLOADS)[number];

const only = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

export function selected(workload: Workload): boolean {
  return only.length === 0 || only.some((name) => workload === name || workload.startsWith(`${name}-`));
}

export interface Row {
  workload: string;
  target: string;
  value: number;
  unit: string;
  /** value / the reference target's value in the same workload and run (NaN: none). */
  ratio: number;
  /** Latency in ms (medians over rounds), where measured. */
  p50?: number;
  p99?: number;
  /** Peak RSS in MB of the largest front-end process and of the largest Python worker. */
  frontEndMb?: number;
  workerMb?: number;
  /** RSS growth in MB during the run (peak minus the RSS before), front end and worker. */
  frontEndGrowthMb?: number;
  workerGrowthMb?: number;
  /**
   * Peak own memory (anonymous + shared-memory pages: what the host pays for this process) of the
   * largest front-end process, MB, and its file pages then (the binary's, shared host-wide).
   */
  frontEndOwnMb?: number;
  frontEndFileMb?: number;
  /** CPU time in ms (medians over rounds) of the front end and of the workers (summed) during the run. */
  frontEndCpuMs?: number;
  workerCpuMs?: number;
  /** The same per request served, µs (median over rounds of each round's CPU / requests). */
  frontEndUsPerRequest?: number;
  workerUsPerRequest?: number;
  note?: string;
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The q-th quantile (0..1) of `values`, nearest rank. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The environment for every process the benchmark starts: no NODE_EXTRA_CA_CERTS (slows Node's start). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

export function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
