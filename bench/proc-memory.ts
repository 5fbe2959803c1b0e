// Memory of processes by pid, from /proc: VmRSS now, VmHWM (the peak) since it was last reset, the
// part of RSS that is the process's own (anonymous and shared-memory pages: what a host pays for
// each process) apart from file pages (the node or python binary and libraries, which every
// process running them shares), CPU time used, and a watcher that samples a target's front-end and
// worker processes while a load runs.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const MB = 1024; // /proc/PID/status gives kB

type StatusField = 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile' | 'RssShmem';

function statusKb(pid: number, field: StatusField): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

export function rssMb(pid: number): number {
  return statusKb(pid, 'VmRSS') / MB;
}

/** RSS split into the process's own pages (RssAnon + RssShmem) and file pages (RssFile), MB. */
export function rssParts(pid: number): { ownMb: number; fileMb: number } {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return { ownMb: NaN, fileMb: NaN };
  }
  const kb = (field: StatusField) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { ownMb: (kb('RssAnon') + kb('RssShmem')) / MB, fileMb: kb('RssFile') / MB };
}

let ticksPerSecond = 0;

/** User + system CPU time the process has used so far, ms (/proc/PID/stat utime + stime). */
export function cpuMs(pid: number): number {
  try {
    // The fields after the command's ")": state is the first, utime the 12th, stime the 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticksPerSecond ||= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return NaN;
  }
}

/** Resets the peak (VmHWM) to the current RSS (Linux ≥ 4.0, as root or the owner). */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Every pid whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  return listProcesses()
    .filter((p) => p.ppid === pid)
    .map((p) => p.pid);
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      out.push({ pid: Number(entry), ppid, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** The processes of one target: its front end(s) and its Python workers, looked up afresh each time. */
export interface ProcessSet {
  frontEnd: number[];
  workers: number[];
}

export interface MemoryPeaks {
  /** Largest peak RSS of one front-end process / one worker, MB. */
  frontEndMb: number;
  workerMb: number;
  /**
   * Largest growth of one process over its RSS when the watch began, MB. Only processes that were
   * running then count: one started during the run (a CGI request's) is seen while it starts up.
   */
  frontEndGrowthMb: number;
  workerGrowthMb: number;
  /**
   * Largest own memory (anonymous + shared-memory pages) of one front-end process, sampled, MB;
   * its file pages (shared with every process running the same binary) at that moment.
   */
  frontEndOwnMb: number;
  frontEndFileMb: number;
  /** CPU time used during the watch, ms, summed over the role's processes that were running then. */
  frontEndCpuMs: number;
  workerCpuMs: number;
}

/** One process a watch has seen: RSS when first seen and at its peak, CPU ms when first and last seen. */
interface Watched {
  role: 'frontEnd' | 'workers';
  first: number;
  peak: number;
  hwm: boolean;
  ownPeak: number;
  fileAtOwnPeak: number;
  /** Running when the watch began. */
  before: boolean;
  cpuFirst: number;
  cpuLast: number;
}

/**
 * Samples the processes `find` names every `everyMs` until stop(): each process's RSS when first
 * seen, then its peak (VmHWM after a reset where the kernel allows, else the sampled maximum), and
 * its CPU time when first and last seen (a process that exits keeps what it used until then).
 */
export function watchMemory(find: () => ProcessSet, everyMs = 100): { stop(): MemoryPeaks } {
  const seen = new Map<number, Watched>();
  let before = true;
  const sample = () => {
    const set = find();
    for (const role of ['frontEnd', 'workers'] as const) {
      for (const pid of set[role]) {
        const rss = rssMb(pid);
        if (Number.isNaN(rss)) continue;
        const cpu = cpuMs(pid);
        let entry = seen.get(pid);
        if (!entry) {
          const hwm = resetPeak(pid);
          entry = {
            role,
            first: rss,
            peak: rss,
            hwm,
            before,
            cpuFirst: cpu,
            cpuLast: cpu,
            ownPeak: NaN,
            fileAtOwnPeak: NaN,
          };
          seen.set(pid, entry);
        }
        if (role === 'frontEnd') {
          const { ownMb, fileMb } = rssParts(pid);
          if (ownMb > entry.ownPeak || Number.isNaN(entry.ownPeak))
            [entry.ownPeak, entry.fileAtOwnPeak] = [ownMb, fileMb];
        }
        if (!Number.isNaN(cpu)) entry.cpuLast = cpu;
        const hwm = entry.hwm ? statusKb(pid, 'VmHWM') / MB : NaN;
        entry.peak = Math.max(entry.peak, rss, Number.isNaN(hwm) ? 0 : hwm);
      }
    }
  };
  sample();
  before = false;
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const of = (role: 'frontEnd' | 'workers', what: (e: Watched) => number, old = false) => {
        const values = [...seen.values()].filter((e) => e.role === role && (e.before || !old)).map(what);
        return values.length ? Math.max(...values) : NaN;
      };
      const cpu = (role: 'frontEnd' | 'workers') => {
        const used = [...seen.values()].filter((e) => e.role === role && e.before).map((e) => e.cpuLast - e.cpuFirst);
        return used.length ? used.reduce((a, b) => a + b, 0) : NaN;
      };
      return {
        frontEndMb: of('frontEnd', (e) => e.peak),
        workerMb: of('workers', (e) => e.peak),
        frontEndGrowthMb: of('frontEnd', (e) => e.peak - e.first, true),
        workerGrowthMb: of('workers', (e) => e.peak - e.first, true),
        frontEndOwnMb: of('frontEnd', (e) => e.ownPeak),
        frontEndFileMb: of('frontEnd', (e) => e.fileAtOwnPeak),
        frontEndCpuMs: cpu('frontEnd'),
        workerCpuMs: cpu('workers'),
      };
    },
  };
}
