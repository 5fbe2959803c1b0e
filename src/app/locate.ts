// The checks before anything runs: nothing runs that the owner could not have written.
// suEXEC and cgiwrap check the program they exec; the .wsgi is not that program, so wsgikit
// repeats their rules for it (suexec/README.md, docs/cgiwrap.md): a regular file, inside an allowed root
// once every symlink is resolved, not writable by group or others anywhere from that root down,
// owned by the user it runs as (or root), no setuid/setgid bits. Runs once per CGI request:
// one realpath, one stat per folder below the root, one stat of the file.

import process from 'node:process';
import { type Stats, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { WsgikitError } from '../errors.js';
import { shellQuote } from '../os/shell-quote.js';
import { passwdHome, passwdName } from '../os/users.js';

export interface AppCheckOptions {
  /** Absolute folders the app must lie in once symlinks are resolved. Empty: the owner's home. */
  allowedRoots: string[];
  /** The uid the app may belong to (root-owned files are accepted too). Default: process.getuid(). */
  expectedUid?: number;
  /** Other owners the host lets this uid run (host.toml [trusted_owners]); their files are accepted too. */
  trustedOwners?: ReadonlySet<number>;
}

export interface CheckedApp {
  /** The real path: every symlink resolved. */
  file: string;
  dir: string;
  uid: number;
  gid: number;
  mtimeMs: number;
}

export function checkAppFile(appFile: string, options: AppCheckOptions): CheckedApp {
  const given = resolve(appFile);
  const expectedUid = options.expectedUid ?? currentUid();
  const trusted = options.trustedOwners ?? NO_OWNERS;
  const real = realpathOrThrow(given);
  const st = statSync(real);

  if (!st.isFile()) {
    const what = st.isDirectory() ? 'a folder' : 'not a regular file';
    throw refused(
      `${describe(given, real)} is ${what}; wsgikit runs only a regular .wsgi file.`,
      `point it at the .wsgi file itself.`,
    );
  }

  const roots = options.allowedRoots.length > 0 ? options.allowedRoots : [homeOf(expectedUid)];
  const root = findRoot(real, roots);
  if (root === null) throw outsideRoots(given, real, roots);

  // Every folder from the root down to the file, then the file: a folder writable by others lets
  // them swap the file, so the folders count as much as the file itself. `real` has no symlinks
  // left, so stat of each prefix is the stat of that very folder.
  const dir = dirname(real);
  const folders = [root];
  if (dir !== root) {
    let current = root;
    for (const part of relative(root, dir).split(sep)) {
      current = join(current, part);
      folders.push(current);
    }
  }
  for (const folder of folders) {
    const fst = statSync(folder);
    checkWritable(folder, fst, 'folder');
    checkOwner(folder, fst, expectedUid, 'folder', trusted);
  }
  checkWritable(real, st, 'file');
  if ((st.mode & 0o6000) !== 0) {
    const bits = [st.mode & 0o4000 ? 'setuid' : '', st.mode & 0o2000 ? 'setgid' : ''].filter(Boolean).join(' and ');
    throw refused(`${real} has the ${bits} bit set; a .wsgi must not.`, `chmod ug-s ${shellQuote(real)}`);
  }
  checkOwner(real, st, expectedUid, 'file', trusted);

  return { file: real, dir, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
}

/**
 * The same write and owner rules for one file that steers the app (the settings sidecar):
 * refuses it when group or others may write it, or when it belongs to another non-root user
 * (other than one of `trusted`).
 */
export function checkOwnedFile(
  file: string,
  st: Stats,
  expectedUid: number = currentUid(),
  trusted: ReadonlySet<number> = NO_OWNERS,
): void {
  checkWritable(file, st, 'file');
  checkOwner(file, st, expectedUid, 'file', trusted);
}

/**
 * Why a file or folder that belongs to `ownerUid` may not run as `runnerUid`, and the setups that
 * work. The owner rule keeps the runner from running code someone else can change; the fix is
 * never to give the runner the code (`chown www-data` would let the running app rewrite itself).
 */
export function foreignOwnerWords(
  p: string,
  kind: 'file' | 'folder',
  ownerUid: number,
  runnerUid: number,
): { problem: string; fix: string } {
  const owner = passwdName(ownerUid);
  const runner = passwdName(runnerUid);
  const ownerName = owner ?? String(ownerUid);
  const runnerName = runner ?? String(runnerUid);
  const who = (name: string | null, uid: number) => (name === null ? `uid ${uid}` : `${name} (uid ${uid})`);
  return {
    problem:
      `The ${kind} ${p} belongs to ${who(owner, ownerUid)}, but this runs as ${who(runner, runnerUid)}; ` +
      `it runs only what its own user (or root) wrote`,
    fix:
      `run the app as ${ownerName} (suEXEC, or a per-user service: wsgi-fcgi --user ${ownerName}), ` +
      `or have root own the code, or, as the host, let ${runnerName} run ${ownerName}'s code with ` +
      `[trusted_owners] ${runnerName} = ["${ownerName}"] in /etc/wsgikit/host.toml (docs/hosting-guide.md: ` +
      `${runnerName} then runs code ${ownerName} can change)`,
  };
}

// ---------------------------------------------------------------------------------------------

function realpathOrThrow(given: string): string {
  try {
    return realpathSync.native(given);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      let note = '';
      try {
        const target = readlinkSync(given);
        note = ` (it is a symlink to ${target}, which does not exist)`;
      } catch {
        // not a dangling symlink: plainly missing
      }
      throw new WsgikitError('WSGIKIT_APP_NOT_FOUND', `${given} does not exist${note}.`, {
        fix: `check the path, or create the .wsgi file there.`,
        cause: err,
      });
    }
    if (code === 'EACCES') {
      throw refused(
        `${given} cannot be reached: permission denied on a folder on the way.`,
        `chmod a+x each folder on the path (the owner needs search permission).`,
        err,
      );
    }
    if (code === 'ELOOP') {
      throw refused(`${given} is a loop of symlinks.`, `replace the symlink with the file itself.`, err);
    }
    throw err;
  }
}

// Roots rarely change within a process; their real paths are looked up once.
const realRoots = new Map<string, string | null>();

function realRoot(root: string): string | null {
  let real = realRoots.get(root);
  if (real === undefined) {
    try {
      real = realpathSync.native(root);
    } catch {
      real = null; // a root that does not exist holds nothing
    }
    realRoots.set(root, real);
  }
  return real;
}

/** The real path of the first root that holds `real` (a path with no symlinks left), or null. */
export function findRoot(real: string, roots: readonly string[]): string | null {
  for (const root of roots) {
    if (!isAbsolute(root)) continue;
    const r = realRoot(root);
    if (r !== null && isInside(real, r)) return r;
  }
  return null;
}

function isInside(file: string, folder: string): boolean {
  if (folder === sep) return true;
  return file.startsWith(folder + sep);
}

function outsideRoots(given: string, real: string, roots: string[]): WsgikitError {
  const list = roots.join(', ');
  if (given !== real) {
    const lexicalRoot = roots.find((root) => isInside(given, resolve(root)));
    if (lexicalRoot !== undefined) {
      return refused(
        `${given} lies in the allowed root ${lexicalRoot}, but through a symlink it points to ${real}, outside every allowed root (${list}).`,
        `replace the symlink with the file itself (cp ${shellQuote(real)} ${shellQuote(given)}), or move the app into an allowed root.`,
      );
    }
    return refused(
      `${given} points to ${real}, outside every allowed root (${list}).`,
      `move the app into an allowed root.`,
    );
  }
  return refused(
    `${real} is outside every allowed root (${list}).`,
    `move the app into an allowed root, or ask the host to add its folder to allowed_roots.`,
  );
}

function checkWritable(p: string, st: Stats, kind: 'file' | 'folder'): void {
  const bits = st.mode & 0o022;
  if (bits === 0) return;
  const who = bits === 0o022 ? 'group and others' : bits === 0o020 ? 'its group' : 'others';
  const why = kind === 'folder' ? ', so they could replace the app' : '';
  throw refused(`The ${kind} ${p} is writable by ${who}${why}.`, `chmod go-w ${shellQuote(p)}`);
}

const NO_OWNERS: ReadonlySet<number> = new Set();

function checkOwner(
  p: string,
  st: Stats,
  expectedUid: number,
  kind: 'file' | 'folder',
  trusted: ReadonlySet<number>,
): void {
  if (st.uid === expectedUid || st.uid === 0 || trusted.has(st.uid)) return;
  const { problem, fix } = foreignOwnerWords(p, kind, st.uid, expectedUid);
  throw refused(`${problem}.`, `${fix}.`);
}

function refused(problem: string, fix: string, cause?: unknown): WsgikitError {
  return new WsgikitError('WSGIKIT_APP_REFUSED', problem, cause === undefined ? { fix } : { fix, cause });
}

function describe(given: string, real: string): string {
  return given === real ? given : `${given} (→ ${real})`;
}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** The home folder of a uid from the password database, not from $HOME (suEXEC does not set it). */
export function homeOf(uid: number): string {
  const home = passwdHome(uid);
  if (home !== null) return home;
  throw refused(
    `No allowed roots are configured and uid ${uid} has no home folder to use instead.`,
    `set allowed_roots in the host settings.`,
  );
}
