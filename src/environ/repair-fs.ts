// The disk side of the SCRIPT_NAME / PATH_INFO repair: repair.ts is pure and takes its file test
// as a parameter; front ends use this one.

import { statSync } from 'node:fs';
import { repairEnviron, type RepairInput, type RepairResult } from './repair.js';

/** Whether `path` is a regular file (symlinks followed). Never throws. */
export function isRegularFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false; // ENOTDIR, EACCES, ENAMETOOLONG, …: not a file we can use
  }
}

/** repairEnviron() with the real file system. */
export function repairEnvironOnDisk(input: Omit<RepairInput, 'isFile'>): RepairResult {
  // Spelled out, not spread: this runs on every request, and a spread copies by the slow path.
  return repairEnviron({
    vars: input.vars,
    mount: input.mount,
    appExtensions: input.appExtensions,
    isFile: isRegularFile,
  });
}
