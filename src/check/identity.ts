// Users and groups from the password and group files, and "may this uid write here" from the mode
// bits: the checks run as whoever calls wsgi-check (often root at a hosting company), but must
// answer for the user the host runs the app as.

import fs from 'node:fs';
import os from 'node:os';
import { groupName } from '../app/user-space.js';
import type { Target } from './types.js';

export { groupName };

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function passwd(): PasswdEntry[] {
  try {
    return fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .filter((f) => f.length >= 6 && /^\d+$/.test(f[2] ?? '') && /^\d+$/.test(f[3] ?? ''))
      .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
  } catch {
    return [];
  }
}

/** Members of a group beyond its primary-gid users, for group-write checks. */
function supplementaryGids(name: string | null): number[] {
  if (name === null) return [];
  const gids: number[] = [];
  try {
    for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && (f[3] ?? '').split(',').includes(name)) gids.push(Number(f[2]));
    }
  } catch {
    // no group file
  }
  return gids;
}

/**
 * `--as-user NAME | UID | UID:GID`, or by default the current user. Root is not a user a host
 * runs apps as, so root checking without --as-user checks for the owner of the .wsgi.
 */
export function resolveTarget(asUser: string | undefined, appOwner: { uid: number; gid: number } | null): Target {
  const users = passwd();
  if (asUser !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(asUser);
    const entry = m ? users.find((u) => u.uid === Number(m[1])) : users.find((u) => u.name === asUser);
    if (m) {
      const uid = Number(m[1]);
      const gid = m[2] !== undefined ? Number(m[2]) : (entry?.gid ?? null);
      return { uid, gid, name: entry?.name ?? null, home: entry?.home ?? null, why: `--as-user ${asUser}` };
    }
    if (entry === undefined) throw new Error(`--as-user ${asUser}: no such user in /etc/passwd (give UID or UID:GID)`);
    return { uid: entry.uid, gid: entry.gid, name: entry.name, home: entry.home, why: `--as-user ${asUser}` };
  }
  const me = os.userInfo();
  if (me.uid === 0 && appOwner !== null && appOwner.uid !== 0) {
    const entry = users.find((u) => u.uid === appOwner.uid);
    return {
      uid: appOwner.uid,
      gid: entry?.gid ?? appOwner.gid,
      name: entry?.name ?? null,
      home: entry?.home ?? null,
      why: 'the owner of the .wsgi (wsgi-check runs as root; --as-user chooses another)',
    };
  }
  const gid = typeof process.getgid === 'function' ? process.getgid() : me.gid;
  return { uid: me.uid, gid, name: me.username, home: me.homedir, why: 'the user running wsgi-check' };
}

export function describeTarget(t: Target): string {
  const who = t.name === null ? `uid ${t.uid}` : `${t.name} (uid ${t.uid})`;
  return t.gid === null ? who : `${who}, gid ${t.gid}`;
}

/** `user:group` for chown, names when known. */
export function chownSpec(t: Target): string {
  const user = t.name ?? String(t.uid);
  return t.gid === null ? user : `${user}:${groupName(t.gid)}`;
}

export type Access = 'r' | 'w' | 'x';

/** Whether uid (with its groups) may access a path with these stat bits; root may do anything but x on no-x files. */
export function mayAccess(t: Target, st: fs.Stats, what: Access): boolean {
  const groups = new Set([...(t.gid === null ? [] : [t.gid]), ...supplementaryGids(t.name)]);
  return modeAllows(t.uid, groups, st, what);
}

/** mayAccess for a uid and its groups already looked up (userGroups), for checks on every request. */
export function modeAllows(uid: number, groups: ReadonlySet<number>, st: fs.Stats, what: Access): boolean {
  const bit = what === 'r' ? 4 : what === 'w' ? 2 : 1;
  if (uid === 0) return what !== 'x' || (st.mode & 0o111) !== 0 || st.isDirectory();
  if (st.uid === uid) return ((st.mode >> 6) & bit) !== 0;
  if (groups.has(st.gid)) return ((st.mode >> 3) & bit) !== 0;
  return (st.mode & bit) !== 0;
}

/** The primary and supplementary groups of a uid, from the password and group files. */
export function userGroups(uid: number): Set<number> {
  const entry = passwd().find((u) => u.uid === uid);
  return new Set(entry === undefined ? [] : [entry.gid, ...supplementaryGids(entry.name)]);
}
