// ~/.wsgikit, the folder of the user an app runs as: its logs (logs/), the CGI daemon's socket
// (run/) and the CGI code cache (cache/). On a stock host without suEXEC, CGI runs as www-data,
// whose home /var/www belongs to root: the folder is not there and www-data cannot make it. Then
// the app still runs (its log goes to the server's error log, CGI runs one-shot), and the owner is
// told, in the same words everywhere, why and the one command that makes the folder. The one
// decision "can this user make or write this folder" lives here, for the log, the daemon's socket
// and wsgi-check alike.

import process from 'node:process';
import { accessSync, constants, statSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { withFix } from '../errors.js';
import { isUnder } from '../logs/log-file-path.js';
import { shellQuote } from '../os/shell-quote.js';
import { groupName } from '../os/users.js';

/** A folder the user cannot make or write, why, and the command (for root) that fixes it. */
export interface FolderProblem {
  folder: string;
  reason: string;
  fix: string;
}

/** Who a folder must belong to: names for the fix, the home to tell ~/.wsgikit by. */
export interface SpaceOwner {
  user: string;
  group: string;
  home: string | null;
}

/**
 * May the user create files in this existing folder (and reach it)? Given the folder's stat; the
 * running process asks the kernel (`processMayWrite`), wsgi-check answers for another user.
 */
export type MayWrite = (folder: string, st: Stats) => boolean;

/** The user's wsgikit folder: `home/.wsgikit`. */
export function wsgikitFolder(home: string): string {
  return join(home, '.wsgikit');
}

/**
 * Why `owner` cannot make `dir` (with its missing parents) or create files in it, or null when it
 * can. Walks up to the nearest folder that exists: that one must be writable.
 */
export function folderProblem(
  dir: string,
  owner: () => SpaceOwner,
  mayWrite: MayWrite = processMayWrite,
): FolderProblem | null {
  const target = resolve(dir);
  let existing = target;
  let st = statOrNull(existing);
  while (st === null) {
    const up = dirname(existing);
    if (up === existing) break;
    existing = up;
    st = statOrNull(existing);
  }
  if (st !== null && st.isDirectory() && mayWrite(existing, st)) return null;
  const who = owner();
  const reason =
    st === null
      ? `no folder on the way to ${target} exists`
      : !st.isDirectory()
        ? `${existing} is not a folder`
        : existing === target
          ? `${who.user} may not write in ${target}`
          : `${target} does not exist and ${who.user} may not create it in ${existing}`;
  return { folder: target, reason, fix: folderFix(target, who) };
}

/**
 * The command, for root, that gives `owner` the folder `dir` (made if missing, else its owner and
 * mode set): mode 700, so that no other user reads the logs or writes in it. Inside ~/.wsgikit it
 * makes ~/.wsgikit itself, and the folders on the way that exist already (they may be root's): the
 * rest wsgikit makes.
 */
export function folderFix(dir: string, owner: SpaceOwner): string {
  const target = resolve(dir);
  const folders = [target];
  if (owner.home !== null) {
    const base = wsgikitFolder(resolve(owner.home));
    if (isUnder(target, base)) {
      const rel = relative(base, target);
      folders.length = 0;
      folders.push(base);
      let cur = base;
      for (const part of rel === '' ? [] : rel.split(sep)) {
        cur = join(cur, part);
        if (statOrNull(cur) !== null) folders.push(cur);
      }
    }
  }
  return `sudo install -d -o ${shellQuote(owner.user)} -g ${shellQuote(owner.group)} -m 700 ${folders.map(shellQuote).join(' ')}`;
}

/** This process's user: its name, primary group and home from the password database. */
export function processOwner(): SpaceOwner {
  const gid = typeof process.getgid === 'function' ? process.getgid() : -1;
  try {
    const me = userInfo();
    return { user: me.username, group: groupName(gid), home: me.homedir || null };
  } catch {
    const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
    return { user: String(uid), group: groupName(gid), home: null };
  }
}

/** The kernel's answer for this process: write and search permission on the folder. */
export function processMayWrite(folder: string): boolean {
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

/** For the owner (error pages, status page, the log itself): where the log is meanwhile, and the fix. */
export function serverLogNote(problem: FolderProblem): string {
  return withFix({
    problem:
      `This app's log is in the web server's error log for now, because its folder ${problem.folder} cannot be ` +
      `made: ${problem.reason}.`,
    fix: problem.fix,
  });
}

/** For the owner: why every CGI request starts the app anew, and the fix. */
export function oneShotNote(problem: FolderProblem): string {
  return withFix({
    problem:
      `CGI daemon mode is off for now (each request starts the app anew, which is slower), because ` +
      `${problem.folder} cannot be made: ${problem.reason}.`,
    fix: problem.fix,
  });
}
