// The host's `chroot` setting: every worker of an app runs chrooted in a folder the host built
// (scripts/build-chroot.sh, docs/chroot.md), holding its own Python and wsgikit's bridge, with the
// user's home inside it (a bind mount at the same path, or the home living in it).
//
// wsgikit never keeps root while it serves (wsgi-fcgi runs as the user: systemd User=, or --user,
// which drops root before any app is looked at), so it cannot call chroot(2) itself. Each worker
// is started through unshare(1) instead: a new user namespace in which the user's own uid is mapped
// to itself gives the right to chroot (`unshare --user --map-current-user --root=DIR`), then
// Python is exec'd as the same user with no capability left. A chrooted process may not create a
// user namespace (the kernel refuses it since Linux 3.9), so the app cannot get the capability
// back to leave. Paths given to the bridge are the ones seen inside the chroot.
//
// Refused, before anything is started: a chroot folder (or a folder above it) that is not root's
// or that group or others may write (OpenSSH's ChrootDirectory rule; a root-owned sticky folder
// such as /tmp is accepted above it), a missing or outdated bridge in the chroot, an app that is
// not the same file inside, a Python that is not there, and a worker that would run as root.

import { lstatSync, readFileSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import { WsgikitError } from '../errors.js';
import { BRIDGE_MODULE } from '../install-paths.js';
import { shellQuote } from '../os/shell-quote.js';
import { passwdName } from '../os/users.js';

/** Where the bridge must be inside every chroot (scripts/build-chroot.sh installs it there). */
export const CHROOT_BRIDGE = '/usr/lib/wsgikit/wsgi_bridge.py';
/** The program that enters the chroot (util-linux; Debian package util-linux). */
export const UNSHARE = '/usr/bin/unshare';

/** How a worker of one app is started in its chroot: every path but `dir` is the inside one. */
export interface AppChroot {
  /** The chroot folder, its real path outside. */
  dir: string;
  appFile: string;
  /** The app's folder: the worker's working folder. */
  cwd: string;
  bridge: string;
}

/** The command that starts `argv` (inside paths) chrooted in `chroot.dir`, as the current user. */
export function chrootCommand(chroot: AppChroot, argv: string[]): { command: string; args: string[] } {
  return {
    command: UNSHARE,
    args: ['--user', '--map-current-user', `--root=${chroot.dir}`, `--wd=${chroot.cwd}`, '--', ...argv],
  };
}

/** The pattern with %u (user name), %U (uid) and %% replaced. */
export function expandChrootPattern(pattern: string, uid: number, userName: () => string): string {
  return resolve(
    pattern.replace(/%([uU%])/g, (_, c: string) => (c === '%' ? '%' : c === 'U' ? String(uid) : userName())),
  );
}

/**
 * `inside` (an absolute path as a process in the chroot sees it) as a path outside, every symlink
 * resolved the way the chrooted process would resolve it (absolute targets and ".." stay in
 * `root`). `followLast: false` leaves a final symlink unresolved. null when a part is missing.
 */
export function resolveInChroot(root: string, inside: string, followLast = true): string | null {
  const pending = inside.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const outside = join(root, ...done, part);
    let st: Stats;
    try {
      st = lstatSync(outside);
    } catch {
      return null;
    }
    if (st.isSymbolicLink() && (followLast || pending.length > 0)) {
      if (++links > 40) return null; // ELOOP, as the kernel would
      const target = readlinkSync(outside);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    done.push(part);
  }
  return join(root, ...done);
}

/** `outside` as seen inside `root` when it lies in it; else `outside` itself (a bind-mounted path). */
export function toInside(root: string, outside: string): string {
  const rel = relative(root, outside);
  if (rel === '') return '/';
  return rel.startsWith('..') || isAbsolute(rel) ? outside : `/${rel}`;
}

/** Which of the start's checks refused: wsgi-check reports each as `chroot.<check>`. */
export const CHROOT_CHECKS = [
  'as-root',
  'no-user-name',
  'missing',
  'folder-owner',
  'folder-writable',
  'bridge-missing',
  'bridge-outdated',
  'app-not-inside',
] as const;
export type ChrootCheck = (typeof CHROOT_CHECKS)[number];

export interface ChrootInspection {
  /** The folder the pattern names for this user, before symlinks are resolved; null when unknown. */
  given: string | null;
  /** Its real path; null when it cannot be known (missing, root, no user name). */
  dir: string | null;
  /** How the workers would start; null when anything is refused. */
  plan: AppChroot | null;
  /** Every refusal, in the order the start checks them, each with its fix. */
  problems: { check: ChrootCheck; subject: string; error: WsgikitError }[];
}

/**
 * Where the app runs for the host's chroot pattern, or a refusal that says what to fix. `appFile`
 * is the checked real path outside; `uid` the user the worker runs as.
 */
export function planChroot(pattern: string, appFile: string, uid: number, hostFile: string | null): AppChroot {
  const inspection = inspectChroot(pattern, appFile, uid, hostFile);
  const first = inspection.problems[0];
  if (first !== undefined) throw first.error;
  return inspection.plan!;
}

/**
 * Every check planChroot makes, each refusal with its fix, not only the first: for wsgi-check.
 * The checks after the folder's existence are independent, so all of them are reported.
 */
export function inspectChroot(
  pattern: string,
  appFile: string,
  uid: number,
  hostFile: string | null,
): ChrootInspection {
  const where = hostFile ?? 'the host settings';
  const out: ChrootInspection = { given: null, dir: null, plan: null, problems: [] };
  const refuse = (check: ChrootCheck, subject: string, error: WsgikitError) => {
    out.problems.push({ check, subject, error });
    return out;
  };
  if (uid === 0) {
    return refuse(
      'as-root',
      where,
      invalid(
        `chroot is set in ${where}, but this runs as root, and a chroot does not hold root.`,
        `run wsgi-fcgi as the ` + 'hosting user (systemd User=, or --user NAME when it starts as root)',
      ),
    );
  }
  let given: string;
  try {
    given = expandChrootPattern(pattern, uid, () => userName(uid, where));
  } catch (error) {
    if (!(error instanceof WsgikitError)) throw error;
    return refuse('no-user-name', where, error);
  }
  out.given = given;
  let dir: string;
  try {
    dir = realpathSync.native(given);
  } catch {
    return refuse(
      'missing',
      given,
      invalid(
        `the chroot ${given} (chroot = ${JSON.stringify(pattern)} in ${where}) does not exist.`,
        `build it as root: scripts/build-chroot.sh ${shellQuote(given)}`,
      ),
    );
  }
  out.dir = dir;
  for (const problem of chrootFolderProblems(dir, given)) refuse(problem.check, problem.folder, problem.error);

  const state = bridgeState(resolveInChroot(dir, CHROOT_BRIDGE));
  if (state !== null) {
    refuse(
      state === 'is missing' ? 'bridge-missing' : 'bridge-outdated',
      join(dir, CHROOT_BRIDGE),
      invalid(
        `the bridge ${CHROOT_BRIDGE} in the chroot ${dir} ${state}.`,
        `as root, ` +
          `install -D -m 644 ${shellQuote(BRIDGE_MODULE)} ${shellQuote(join(dir, CHROOT_BRIDGE))} ` +
          '(scripts/build-chroot.sh does it; again after each wsgikit upgrade)',
      ),
    );
  }

  const inside = toInside(dir, appFile);
  const seen = resolveInChroot(dir, inside);
  if (seen === null || !sameFile(seen, appFile)) {
    refuse(
      'app-not-inside',
      appFile,
      new WsgikitError(
        'WSGIKIT_APP_REFUSED',
        `${appFile} is not inside the chroot ${dir}: there, ${inside} ${seen === null ? 'does not exist' : 'is another file'}.`,
        {
          fix:
            `bind-mount the home into the chroot at the same path (mount --bind /home/USER ${shellQuote(dir)}/home/USER, ` +
            'and a line in /etc/fstab), or keep the home inside the chroot; see docs/chroot.md',
          fixBy: 'the host',
        },
      ),
    );
  }
  if (out.problems.length === 0) {
    out.plan = { dir, appFile: inside, cwd: posix.dirname(inside), bridge: CHROOT_BRIDGE };
  }
  return out;
}

let ourBridge: Buffer | null = null;
/** Chroot bridges found identical to ours, by path and the stat that said so. */
const sameBridge = new Map<string, string>();

/** Why the chroot's bridge cannot be used, or null when it is this version's. Read once per change. */
function bridgeState(file: string | null): string | null {
  let st: Stats;
  try {
    if (file === null) return 'is missing';
    st = statSync(file);
  } catch {
    return 'is missing';
  }
  const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  if (sameBridge.get(file) === stamp) return null;
  ourBridge ??= readFileSync(BRIDGE_MODULE);
  if (!st.isFile() || !readFileSync(file).equals(ourBridge)) return 'is not the one of this wsgikit version';
  sameBridge.set(file, stamp);
  return null;
}

/** Every folder from / down to the chroot that is not root's, or that group or others may write. */
function chrootFolderProblems(
  dir: string,
  given: string,
): { check: 'folder-owner' | 'folder-writable'; folder: string; error: WsgikitError }[] {
  const out: { check: 'folder-owner' | 'folder-writable'; folder: string; error: WsgikitError }[] = [];
  const folders = ['/'];
  for (const part of dir.split('/').filter(Boolean)) folders.push(join(folders[folders.length - 1]!, part));
  for (const folder of folders) {
    const st = statSync(folder);
    const sticky = (st.mode & 0o1000) !== 0 && folder !== dir;
    if (st.uid !== 0) {
      out.push({
        check: 'folder-owner',
        folder,
        error: invalid(
          `the chroot ${given}: ${folder} belongs to uid ${st.uid}, not root, so that user could change what the chroot ` +
            `holds.`,
          `chown root:root ${shellQuote(folder)}`,
        ),
      });
    }
    if ((st.mode & 0o022) !== 0 && !sticky) {
      out.push({
        check: 'folder-writable',
        folder,
        error: invalid(
          `the chroot ${given}: ${folder} is writable by group or others, who could replace what the chroot holds.`,
          `chmod go-w ${shellQuote(folder)}`,
        ),
      });
    }
  }
  return out;
}

function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

function userName(uid: number, where: string): string {
  const name = passwdName(uid);
  if (name !== null) return name;
  throw invalid(`chroot in ${where} names the user (%u), but uid ${uid} has no name.`, `use %U (the uid) instead`);
}

/** A refusal ends with a full stop, after its fix. */
function invalid(problem: string, fix: string): WsgikitError {
  return new WsgikitError('WSGIKIT_SETTINGS_INVALID', problem, { fix: `${fix}.` });
}
