// Users and groups from the password and group files. wsgikit often runs as someone other than the
// user it answers for (root running wsgi-check, a service starting apps for a user, suEXEC leaving
// no $HOME), so it reads the files rather than the environment. None of these throws: a missing
// file reads as empty.

import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The entries of /etc/passwd with a numeric uid and gid. */
export function passwdEntries(): PasswdEntry[] {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => line.split(':'))
      .filter((f) => f.length >= 6 && /^\d+$/.test(f[2] ?? '') && /^\d+$/.test(f[3] ?? ''))
      .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
  } catch {
    return [];
  }
}

/** The home folder of a uid from the password database, not from $HOME (suEXEC does not set it). */
export function passwdHome(uid: number): string | null {
  const me = userInfo();
  if (me.uid === uid) return me.homedir;
  return passwdEntries().find((u) => u.uid === uid)?.home || null;
}

/** The login name of a uid, or null. */
export function passwdName(uid: number): string | null {
  const me = userInfo();
  if (me.uid === uid) return me.username;
  return passwdEntries().find((u) => u.uid === uid)?.name || null;
}

/** The uid of a user name (or of a decimal uid that has an entry), or null. */
export function uidOfUser(name: string): number | null {
  return passwdEntries().find((u) => u.name === name || String(u.uid) === name)?.uid ?? null;
}

/** Group name of a gid, or the number. */
export function groupName(gid: number): string {
  for (const f of groupLines()) if (f.length >= 3 && Number(f[2]) === gid && f[0]) return f[0];
  return String(gid);
}

/** The groups that list a user as a member beyond its primary gid. */
export function supplementaryGids(name: string | null): number[] {
  if (name === null) return [];
  const gids: number[] = [];
  for (const f of groupLines()) if (f.length >= 4 && (f[3] ?? '').split(',').includes(name)) gids.push(Number(f[2]));
  return gids;
}

/** The primary and supplementary groups of a uid, from the password and group files. */
export function userGroups(uid: number): Set<number> {
  const entry = passwdEntries().find((u) => u.uid === uid);
  return new Set(entry === undefined ? [] : [entry.gid, ...supplementaryGids(entry.name)]);
}

function groupLines(): string[][] {
  try {
    return readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}
