// The user the checks answer for, and "may this user write here": the checks run as whoever calls
// wsgi-check (often root at a hosting company), but must answer for the user the host runs the app
// as. The password and group files are read by src/os/users.ts.

import process from 'node:process';
import type { Stats } from 'node:fs';
import os from 'node:os';
import { type Access, modeAllows } from '../os/access.js';
import { groupName, passwdEntries, supplementaryGids } from '../os/users.js';
import { WsgikitError } from '../errors.js';
import type { Target } from './types.js';

/**
 * `--as-user NAME | UID | UID:GID`, or by default the current user. Root is not a user a host
 * runs apps as, so root checking without --as-user checks for the owner of the .wsgi.
 */
export function resolveTarget(asUser: string | undefined, appOwner: { uid: number; gid: number } | null): Target {
  const users = passwdEntries();
  if (asUser !== undefined) {
    const m = /^(\d+)(?::(\d+))?$/.exec(asUser);
    const entry = m ? users.find((u) => u.uid === Number(m[1])) : users.find((u) => u.name === asUser);
    if (m) {
      const uid = Number(m[1]);
      const gid = m[2] !== undefined ? Number(m[2]) : (entry?.gid ?? null);
      return { uid, gid, name: entry?.name ?? null, home: entry?.home ?? null, why: `--as-user ${asUser}` };
    }
    if (entry === undefined) {
      throw new WsgikitError('WSGIKIT_USAGE', `--as-user ${asUser}: no such user in /etc/passwd (give UID or UID:GID)`);
    }
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

/** Whether uid (with its groups) may access a path with these stat bits; root may do anything but x on no-x files. */
export function mayAccess(t: Target, st: Stats, what: Access): boolean {
  const groups = new Set([...(t.gid === null ? [] : [t.gid]), ...supplementaryGids(t.name)]);
  return modeAllows(t.uid, groups, st, what);
}
