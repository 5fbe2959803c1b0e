// Persistent apps on CGI-only hosts: one daemon per user (and host settings file), wsgi-fcgi in
// hosting mode over the user's allowed roots, each app in its own pool on its own Python, on a
// Unix socket in the user's ~/.wsgikit/run/ (owner-only). A CGI request reaches it two ways: the
// native launcher (src/cgi/launcher/wsgi-cgi.c) relays the raw CGI request and the daemon makes
// the CGI decisions itself (src/request/relayed-cgi.ts); the Node entry decides, then relays the
// repaired environ naming the app (relay() below). Either way only the daemon runs the app; the first
// request that finds none starts it (the Node entry: the launcher execs it when no daemon
// answers), and it exits when idle. Two first requests racing must not start two daemons: an
// exclusive lock file decides who starts it; the other waits for the socket.

import process from 'node:process';
import { closeSync, lstatSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { WsgikitError } from '../errors.js';
import { DEFAULT_HOST_SETTINGS_FILE } from '../app/settings.js';
import type { Environ } from '../exchange.js';
import { fastcgiRequest } from '../fastcgi/client.js';
import { SERVICE_NODE_FLAGS, WSGI_FCGI_SCRIPT } from '../install-paths.js';
import { lazyChildProcess } from '../lazy-builtins.js';
import { shortHash } from '../short-hash.js';
import { nodeEntryParams } from '../request/relayed-cgi.js';
import { folderProblem, processOwner, type FolderProblem } from '../app/user-space.js';

export interface DaemonPaths {
  socket: string;
  lock: string;
  /** The daemon's own log (its start and stop, apps loaded, requests declined), rotated by it. */
  log: string;
}

/** How long a request waits for a daemon to come up before it runs one-shot instead. */
const START_WAIT_MS = 5000;
const POLL_MS = 20;
/** A start lock older than this was left by a starter that died. */
const STALE_LOCK_MS = 15_000;

/**
 * The user's daemon: `~/.wsgikit/run/cgi.sock` for the default host settings (the only one the
 * native launcher knows, and its name is written there too), `cgi-<hash>.sock` for a host settings
 * file named with --host-settings. Short (a Unix socket path has ~107 bytes), owner-only (the
 * folder is 0700, the socket 0600).
 */
export function daemonPaths(home: string, hostSettings: string | null): DaemonPaths {
  const dir = join(home, '.wsgikit', 'run');
  const name =
    hostSettings === null || hostSettings === DEFAULT_HOST_SETTINGS_FILE ? 'cgi' : `cgi-${shortHash(hostSettings)}`;
  return { socket: join(dir, `${name}.sock`), lock: join(dir, `${name}.starting`), log: join(dir, `${name}.log`) };
}

/**
 * Why the run folder or the socket may not be used (not this uid's, open to others, a symlink),
 * else null: the launcher checks the same before it connects, and this says why it did not.
 */
export function unsafeDaemonPath(socket: string): string | null {
  const uid = process.getuid?.() ?? -1;
  for (const [path, what] of [
    [dirname(socket), 'folder'],
    [socket, 'socket'],
  ] as const) {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return null; // not there yet: it is made owner-only
    }
    if (st.isSymbolicLink()) return `the daemon's ${what} ${path} is a symlink`;
    if (st.uid !== uid) return `the daemon's ${what} ${path} belongs to uid ${st.uid}, not ${uid}`;
    if ((st.mode & 0o077) !== 0) {
      return `the daemon's ${what} ${path} may be used by others (mode ${(st.mode & 0o777).toString(8)}): chmod go= it`;
    }
  }
  return null;
}

/**
 * Why the app's daemon has no place for its socket (its folder cannot be made or written by this
 * user), or null. `home`: the user's home (the socket is in its ~/.wsgikit/run). Until there is a
 * place, CGI requests run one-shot, and the owner is told (src/app/user-space.ts oneShotNote).
 */
export function socketFolderProblem(paths: DaemonPaths, home: string): FolderProblem | null {
  return folderProblem(dirname(paths.socket), () => ({ ...processOwner(), home }));
}

/** The daemon cannot be started here: no place for its socket, or for its log. */
export class DaemonPlaceError extends WsgikitError {
  readonly place: FolderProblem;

  constructor(place: FolderProblem) {
    super('WSGIKIT_WORKER_START_FAILED', `${place.folder} cannot be made: ${place.reason}.`, { fix: place.fix });
    this.name = 'DaemonPlaceError';
    this.place = place;
  }
}

/** A connected socket, or the reason there is none (ENOENT: no daemon; ECONNREFUSED: a dead one). */
export function connectDaemon(path: string): Promise<Socket | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error));
  });
}

export interface DaemonStart {
  paths: DaemonPaths;
  /** Seconds without requests after which the daemon exits. */
  idleExit: number;
  /** The daemon's environment (the app's os.environ before its settings' `env`). */
  env: NodeJS.ProcessEnv;
  /**
   * Why the app's log cannot be used now (src/app/resolve-app.ts): the daemon is then not started,
   * as the app's lines in it would have nowhere to go but the daemon's own log.
   */
  logProblem?: FolderProblem | null;
  /** The user's home, to tell the owner how to make ~/.wsgikit/run when it cannot be made. */
  home: string;
  /** The host settings file and allowed roots the CGI side used: the daemon must check the app alike. */
  hostSettings: string | null;
  roots: string[];
}

/**
 * Connects to the app's daemon, starting it first when none answers. Throws with the reason when
 * it cannot (the caller falls back to one-shot and logs why): a DaemonPlaceError when there is no
 * place for its socket or its log.
 */
export async function daemonSocket(start: DaemonStart): Promise<Socket> {
  const unsafe = unsafeDaemonPath(start.paths.socket);
  if (unsafe !== null) throw new WsgikitError('WSGIKIT_WORKER_START_FAILED', unsafe);
  const first = await connectDaemon(start.paths.socket);
  if (!(first instanceof Error)) return first;
  if (first.code !== 'ENOENT' && first.code !== 'ECONNREFUSED') throw first;
  // A daemon whose output had nowhere to go but our stderr would hold the server's pipe open.
  const problem = socketFolderProblem(start.paths, start.home) ?? start.logProblem ?? null;
  if (problem !== null) throw new DaemonPlaceError(problem);
  mkdirSync(join(start.paths.socket, '..'), { recursive: true, mode: 0o700 });
  if (takeLock(start.paths.lock)) {
    try {
      launch(start);
      return await waitForSocket(start.paths.socket);
    } finally {
      unlinkQuietly(start.paths.lock);
    }
  }
  return waitForSocket(start.paths.socket);
}

/** Relays one request for `appFile` to the daemon and copies its CGI response to `out` as it streams. */
export function relay(
  socket: Socket,
  appFile: string,
  environ: Environ,
  body: Readable | null,
  out: NodeJS.WritableStream,
): Promise<{ ok: true } | { ok: false; error: Error; wrote: boolean }> {
  return new Promise((resolve) => {
    let wrote = false;
    const response = fastcgiRequest(socket, {
      params: nodeEntryParams(environ, appFile),
      stdin: body,
      keepConn: false,
    });
    // The server closing our stdout (the client went away): stop the request upstream; the
    // daemon sees its connection close and aborts the app's request.
    out.once('error', () => {
      response.destroy();
      resolve({ ok: true });
    });
    response.on('data', (chunk: Buffer) => {
      wrote = true;
      if (!out.write(chunk)) {
        response.pause();
        out.once('drain', () => response.resume());
      }
    });
    response.once('end', () => resolve({ ok: true }));
    response.once('error', (error: Error) => resolve({ ok: false, error, wrote }));
  });
}

function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lock).mtimeMs < STALE_LOCK_MS) return false;
      } catch {
        continue; // the starter just finished
      }
      unlinkQuietly(lock);
    }
  }
  return false;
}

function launch(start: DaemonStart): void {
  // Its stdout and stderr too: what Node itself may print (a crash) goes where its own lines go.
  const log = openSync(start.paths.log, 'a', 0o600);
  try {
    const child = lazyChildProcess().spawn(
      process.execPath,
      [
        ...SERVICE_NODE_FLAGS,
        WSGI_FCGI_SCRIPT,
        '--listen',
        start.paths.socket,
        '--relay',
        '--ops-log',
        start.paths.log,
        '--idle-exit',
        String(Math.max(1, Math.round(start.idleExit))),
        ...(start.hostSettings ? ['--host-settings', start.hostSettings] : []),
        ...start.roots.flatMap((root) => ['--root', root]),
      ],
      // Its own session, and none of our fds: the server waits for EOF on our stdout.
      { detached: true, stdio: ['ignore', log, log], env: start.env },
    );
    child.unref();
  } finally {
    closeSync(log);
  }
}

async function waitForSocket(path: string): Promise<Socket> {
  const until = Date.now() + START_WAIT_MS;
  let last: NodeJS.ErrnoException | null = null;
  while (Date.now() < until) {
    const result = await connectDaemon(path);
    if (!(result instanceof Error)) return result;
    last = result;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new WsgikitError(
    'WSGIKIT_WORKER_START_FAILED',
    `the app's daemon did not start listening on ${path} within ${START_WAIT_MS / 1000} s` +
      (last ? ` (${last.code})` : ''),
  );
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
