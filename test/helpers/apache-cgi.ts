// What the Apache CGI end-to-end tests need beyond test/helpers/servers.ts: wsgi-cgi installed
// where a host installs it, a throwaway unprivileged user for suEXEC, the processes that user
// runs, and the suEXEC log. Everything here undoes only what it did itself.

import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, userIds } from './servers.js';

/** Where a host installs wsgi-cgi: on suEXEC's AP_SAFE_PATH, as the stub and the shebangs name it. */
export const WSGI_CGI_LINK = '/usr/local/bin/wsgi-cgi';
export const WSGI_CGI_BUILT = join(REPO, 'dist', 'wsgi-cgi.cjs');
/** The `wsgi-cgi` command the build makes: the native launcher, or a copy of the Node entry. */
export const WSGI_CGI_COMMAND = join(REPO, 'dist', 'wsgi-cgi');
const OURS = new Set([WSGI_CGI_BUILT, WSGI_CGI_COMMAND]);
export const SUEXEC_BIN = '/usr/lib/apache2/suexec';
export const SUEXEC_LOG = '/var/log/apache2/suexec.log';
export const STUB = join(REPO, 'suexec', 'wsgi-cgi');
export const INSTALL_STUB = join(REPO, 'suexec', 'install-stub.sh');

/** Who is using the link: a file per test process (its pid), and `created` when a test made it. */
const LINK_USERS = join(tmpdir(), 'wsgikit-e2e-wsgi-cgi-link');

/**
 * Installs wsgi-cgi as suexec/README.md says (a symlink /usr/local/bin/wsgi-cgi to the built
 * dist/wsgi-cgi.cjs); returns the undo. The link is removed only if a test made it, and only by
 * the last test process using it (runs of this file may overlap). A link that was already there
 * must point at this checkout's build, or the tests would run another one.
 */
export function installWsgiCgi(): () => void {
  if (!existsSync(WSGI_CGI_BUILT)) throw new Error(`${WSGI_CGI_BUILT} is missing: npm run build first`);
  mkdirSync(LINK_USERS, { recursive: true, mode: 0o700 });
  const mine = join(LINK_USERS, String(process.pid));
  writeFileSync(mine, '');
  if (existsSync(WSGI_CGI_LINK) || isSymlink(WSGI_CGI_LINK)) {
    const target = isSymlink(WSGI_CGI_LINK) ? readlinkSync(WSGI_CGI_LINK) : null;
    if (target === null || !OURS.has(target)) {
      rmSync(mine, { force: true });
      throw new Error(
        `${WSGI_CGI_LINK} exists and is not a symlink to ${WSGI_CGI_BUILT}; remove it to run these tests`,
      );
    }
  } else {
    symlinkSync(WSGI_CGI_BUILT, WSGI_CGI_LINK);
    writeFileSync(join(LINK_USERS, 'created'), '');
  }
  return () => {
    rmSync(mine, { force: true });
    const others = readdirSync(LINK_USERS).filter((f) => /^\d+$/.test(f) && isAlive(Number(f)));
    if (others.length > 0 || !existsSync(join(LINK_USERS, 'created'))) return;
    if (isSymlink(WSGI_CGI_LINK) && OURS.has(readlinkSync(WSGI_CGI_LINK))) unlinkSync(WSGI_CGI_LINK);
    rmSync(LINK_USERS, { recursive: true, force: true });
  };
}

/**
 * Points the installed link at `file` (dist/wsgi-cgi.cjs or dist/wsgi-cgi), so that one Apache
 * serves the same tests through each entry in turn. Replaced in one rename: a request meanwhile
 * runs one entry or the other.
 */
export function pointWsgiCgiAt(file: string): void {
  const temp = `${WSGI_CGI_LINK}.${process.pid}`;
  rmSync(temp, { force: true });
  symlinkSync(file, temp);
  renameSync(temp, WSGI_CGI_LINK);
}

/** The process `pid` still exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  /** Kills what still runs as the user (daemons wsgi-cgi started for it), then `userdel -r`. */
  remove(): void;
}

/** A fresh user `wsgitestNNNNN` with a free uid ≥ 20000, its own group and a home in /home. */
export function createTestUser(): TestUser {
  let uid = 0;
  for (let attempt = 0; attempt < 50 && uid === 0; attempt++) {
    const candidate = randomInt(20_000, 60_000);
    if (!passwdHas(candidate)) uid = candidate;
  }
  if (uid === 0) throw new Error('no free uid found');
  const name = `wsgitest${uid}`;
  execFileSync('useradd', ['-m', '-U', '-u', String(uid), '-s', '/bin/sh', name], { stdio: 'pipe' });
  const ids = userIds(name)!;
  const home = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((f) => f[0] === name)![5]!;
  return {
    name,
    uid: ids.uid,
    gid: ids.gid,
    home,
    remove() {
      for (const pid of processesOf(ids.uid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      // The kernel reaps them asynchronously; userdel refuses while any is left.
      for (let i = 0; i < 50 && processesOf(ids.uid).length > 0; i++) execFileSync('sleep', ['0.1']);
      execFileSync('userdel', ['-r', name], { stdio: 'pipe' });
    },
  };
}

function passwdHas(uid: number): boolean {
  const groups = readFileSync('/etc/group', 'utf8');
  return (
    readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .some((line) => line.split(':')[2] === String(uid)) ||
    groups.split('\n').some((l) => l.split(':')[2] === String(uid))
  );
}

export interface ProcessInfo {
  pid: number;
  uid: number;
  cmdline: string[];
}

/** Every process whose real uid is `uid`, from /proc. */
export function processesOf(uid: number): number[] {
  return listProcesses()
    .filter((p) => p.uid === uid)
    .map((p) => p.pid);
}

export function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(entry), uid, cmdline });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** The wsgi-fcgi daemons running as `uid` (started by wsgi-cgi on demand), on one socket if named. */
export function daemonsOf(uid: number, socket?: string): number[] {
  return listProcesses()
    .filter(
      (p) =>
        p.uid === uid &&
        p.cmdline.some((arg) => arg.endsWith('/wsgi-fcgi.js')) &&
        (socket === undefined || p.cmdline[p.cmdline.indexOf('--listen') + 1] === socket),
    )
    .map((p) => p.pid);
}

/** The suEXEC log's size now: `suexecLogSince(mark)` returns what was logged after it. */
export function suexecLogMark(): number {
  try {
    return statSync(SUEXEC_LOG).size;
  } catch {
    return 0;
  }
}

export function suexecLogSince(mark: number): string {
  try {
    return readFileSync(SUEXEC_LOG).subarray(mark).toString('utf8');
  } catch {
    return '';
  }
}

/**
 * Runs suexec/install-stub.sh (as root) for pristine suEXEC (the suEXEC the e2e Apache runs unless
 * told), or with `env` (SUEXEC_BIN, SUEXEC_CONFIG); returns its output, throws with it on a failed
 * check.
 */
export function installStub(args: string[], env: Record<string, string> = {}): string {
  try {
    return execFileSync(INSTALL_STUB, args, {
      encoding: 'utf8',
      stdio: 'pipe',
      env: { ...process.env, SUEXEC_BIN: '/usr/lib/apache2/suexec-pristine', ...env },
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`install-stub.sh ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Mode and owner of a path, for the assertions. */
export function modeOf(path: string): { mode: number; uid: number; gid: number; type: string } {
  const st = lstatSync(path);
  const type = st.isSocket() ? 'socket' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, type };
}
