// What a file's mode bits allow a user with its groups, without asking the kernel: the checks and
// the file offload answer for a user other than the one running them.

import type { Stats } from 'node:fs';

export type Access = 'r' | 'w' | 'x';

/** Whether a uid with these groups may access a path with these stat bits; root may do anything but x on no-x files. */
export function modeAllows(uid: number, groups: ReadonlySet<number>, st: Stats, what: Access): boolean {
  const bit = what === 'r' ? 4 : what === 'w' ? 2 : 1;
  if (uid === 0) return what !== 'x' || (st.mode & 0o111) !== 0 || st.isDirectory();
  if (st.uid === uid) return ((st.mode >> 6) & bit) !== 0;
  if (groups.has(st.gid)) return ((st.mode >> 3) & bit) !== 0;
  return (st.mode & bit) !== 0;
}
