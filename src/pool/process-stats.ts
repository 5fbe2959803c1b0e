// Memory of a worker, read from /proc without asking the worker (gunicorn's arbiter watches its
// workers the same way: a stuck worker cannot answer). Linux only; elsewhere limits on memory
// are not enforced and this says so by returning null.

import { readFileSync } from 'node:fs';

const PAGE_SIZE = 4096;

/** Resident set size in bytes, or null when the process is gone or /proc is not there. */
export function residentBytes(pid: number): number | null {
  try {
    // statm: size resident shared text lib data dt (in pages)
    const statm = readFileSync(`/proc/${pid}/statm`, 'latin1');
    const resident = Number(statm.split(' ')[1]);
    return Number.isFinite(resident) ? resident * PAGE_SIZE : null;
  } catch {
    return null;
  }
}
