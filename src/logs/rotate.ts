// Size-capped rotation that several processes can do to one file at once: CGI requests, a FastCGI
// daemon and wsgi-run may all be appending to the same app log. Node has no flock, so one rotation
// at a time is ensured with a lock file created exclusively; whoever holds it checks that the path
// still names the file it was writing to before renaming anything, so the chain moves only once
// per rotation even when every writer noticed the size at the same moment.

import process from 'node:process';
import { closeSync, existsSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';

/** A lock older than this was left by a process that died mid-rotation. */
const STALE_LOCK_MS = 30_000;

export type RotateOutcome =
  /** We renamed the chain: the path is free for a new file. */
  | 'rotated'
  /** Someone else already rotated (or removed) the file we write to. */
  | 'moved'
  /** Another process is rotating right now: keep writing where we are; lines land in `.1`. */
  | 'busy';

/**
 * Rotates `file` if it is still the file with inode `ino` on `dev`: `file.(keep-1)` → `file.keep`, …,
 * `file` → `file.1`; with `keep` 0 the file is simply removed. Throws only on an unexpected
 * file-system error, after releasing the lock.
 */
export function rotateIfCurrent(file: string, keep: number, dev: number, ino: number): RotateOutcome {
  const lock = `${file}.rotating`;
  if (!takeLock(lock)) return 'busy';
  try {
    const current = statOrNull(file);
    if (current === null || current.dev !== dev || current.ino !== ino) return 'moved';
    if (keep === 0) {
      unlinkSync(file);
      for (let n = 1; existsSync(`${file}.${n}`); n++) unlinkSync(`${file}.${n}`);
      return 'rotated';
    }
    // Shift only the files that exist: the lock is held meanwhile and other writers wait on it.
    let top = 1;
    while (top < keep && existsSync(`${file}.${top}`)) top++;
    for (let n = top - 1; n >= 1; n--) renameIfPresent(`${file}.${n}`, `${file}.${n + 1}`);
    renameSync(file, `${file}.1`);
    // Files past `keep` are left from a time `keep` was larger; the owner asked for fewer.
    for (let n = keep + 1; existsSync(`${file}.${n}`); n++) unlinkSync(`${file}.${n}`);
    return 'rotated';
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // Already gone (taken for stale by someone else): nothing to release.
    }
  }
}

function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const held = statOrNull(lock);
      if (held !== null && Date.now() - held.mtimeMs < STALE_LOCK_MS) return false;
      try {
        unlinkSync(lock);
      } catch {
        // Another writer cleared the stale lock first; try to take it once more.
      }
    }
  }
  return false;
}

function renameIfPresent(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function statOrNull(path: string): { dev: number; ino: number; mtimeMs: number } | null {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
