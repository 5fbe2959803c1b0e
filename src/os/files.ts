// Small file-system helpers shared by the checks: stat without throwing, containment, who may
// write. None of them throws.

import fs from 'node:fs';
import path from 'node:path';

export function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

export function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

export function realOrNull(p: string): string | null {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return null;
  }
}

/** `p` is `folder` or inside it (plain path comparison). */
export function isInside(p: string, folder: string): boolean {
  const rel = path.relative(folder, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Real path of p, or of its nearest existing ancestor joined with the rest: for paths not made yet. */
export function realish(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    const real = realOrNull(cur);
    if (real !== null) return path.join(real, ...rest.reverse());
    const up = path.dirname(cur);
    if (up === cur) return abs;
    rest.push(path.basename(cur));
    cur = up;
  }
}

/** Which of group / others may write, or null. */
export function writableBy(st: fs.Stats): 'group' | 'world' | null {
  if ((st.mode & 0o002) !== 0) return 'world';
  if ((st.mode & 0o020) !== 0) return 'group';
  return null;
}

export function writerWords(st: fs.Stats): string {
  const bits = st.mode & 0o022;
  return bits === 0o022 ? 'its group and everyone else' : bits === 0o020 ? 'its group' : 'everyone else';
}

export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** Folders from `root` down to `dir` (both included); `dir` must lie in `root`. */
export function foldersDown(root: string, dir: string): string[] {
  const folders = [root];
  if (dir === root) return folders;
  let cur = root;
  for (const part of path.relative(root, dir).split(path.sep)) {
    cur = path.join(cur, part);
    folders.push(cur);
  }
  return folders;
}
