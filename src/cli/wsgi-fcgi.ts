#!/usr/bin/env -S node --max-semi-space-size=1 --single-threaded --expose-gc
// wsgi-fcgi: the FastCGI responder. Listens where it is told (fd 0 as mod_fcgid and spawn-fcgi
// hand it over, a Unix socket, or TCP) and serves one app (--app) or every .wsgi the server names
// inside the --root folders: one service per hosting user, each app in its own pool on its own
// Python, as PHP-FPM is for PHP.

import process from 'node:process';
import { chmodSync, chownSync, existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  emptyHostSettings,
  loadHostSettings,
  DEFAULT_HOST_SETTINGS_FILE,
  type AppSettings,
  type HostSettings,
} from '../app/settings.js';
import { SENDFILE_MODES, sendfileModeProblem, type SendfileMode } from '../app/sendfile-settings.js';
import { WsgikitError, isWsgikitError } from '../errors.js';
import { acceptWithDirectReads } from '../fastcgi/accept.js';
import { fastcgiResponder } from '../fastcgi/responder.js';
import { cgiHostSettingsFile } from '../request/cgi-front-end.js';
import { pinoOpsLog, type OpsLog } from '../ops-log.js';
import { AppLog } from '../logs/app-log.js';
import { passwdEntries } from '../os/users.js';
import { AppDirectory } from '../pool/app-directory.js';
import { IdleCollector, QUIET_MS } from '../idle-gc.js';
import { VERSION } from '../version.js';

/** --ops-log (the CGI daemon's own log) is rotated past this size, one older file kept. */
const OPS_LOG_MAX_BYTES = 1024 * 1024;

interface FcgiOptions {
  listen?: string;
  app?: string;
  root: string[];
  hostSettings?: string;
  python?: string;
  processes?: number;
  socketMode: number;
  user?: string;
  idleExit?: number;
  maxConns: number;
  relay?: boolean;
  opsLog?: string;
  preload?: boolean;
  preloadApp: string[];
  sendfile?: SendfileMode;
}

/**
 * Connections are cheap; past the cap each new one is closed, and the web server answers 502. nginx
 * keeps up to its upstream `keepalive` idle connections in every worker process, so a host with
 * many cores and the guide's keepalive 16 holds well over a hundred; requests are limited by the
 * pools (processes, queue_size), which answer 503 with a page.
 */
const DEFAULT_MAX_CONNS = 1024;

const program = new Command()
  .name('wsgi-fcgi')
  .description('Serve .wsgi apps over FastCGI (nginx, Apache mod_fcgid / mod_proxy_fcgi, lighttpd).')
  .option('-l, --listen <where>', 'a Unix socket path or HOST:PORT (default: the listening socket on fd 0)')
  .option('-a, --app <file>', 'serve this .wsgi for every request (default: the one SCRIPT_FILENAME names)')
  .option(
    '-r, --root <dir>',
    'a folder apps may live in; repeat for more (default: host allowed_roots, else home)',
    collect,
    [],
  )
  .option('--host-settings <file>', `host settings (default: ${DEFAULT_HOST_SETTINGS_FILE} when present)`)
  .option('--python <path>', 'the Python for every app, overriding their own choice')
  .option('--processes <n>', 'most worker processes per app', positive)
  .option('--socket-mode <octal>', 'permissions of a Unix socket it creates', octal, 0o600)
  .option('--user <name>', 'when started as root: the user to serve as (privileges are dropped before any app runs)')
  .option(
    '--idle-exit <seconds>',
    'exit after this long without requests (on-demand daemons; idle workers do not keep it running)',
    positive,
  )
  .option(
    '--max-conns <n>',
    'connections open at once; one more is closed at once (reported as FCGI_MAX_CONNS)',
    positive,
    DEFAULT_MAX_CONNS,
  )
  .option('--preload', 'import the --app and start its workers now, not on the first request')
  .option('--preload-app <file>', 'in hosting mode: an app to import at start; repeat for more', collect, [])
  .addOption(
    new Option(
      '--sendfile <mode>',
      'who sends a file an app names in X-Sendfile, for this front end: overrides host.toml sendfile',
    ).choices(SENDFILE_MODES),
  )
  .addOption(new Option('--relay', "the user's daemon behind wsgi-cgi: serves the CGI requests it relays").hideHelp())
  .addOption(new Option('--ops-log <file>', 'its own log lines to this file, rotated, not to stderr').hideHelp())
  .version(VERSION)
  .showHelpAfterError()
  .action((options: FcgiOptions) => main(options));

await program.parseAsync();

async function main(options: FcgiOptions): Promise<void> {
  // Silently serving without the import asked for would make the operator believe the first
  // visitor is spared it; hosting mode names its apps one by one.
  if (options.preload && options.app === undefined) {
    program.error(
      'error: --preload needs --app FILE; in hosting mode name each app to import at start with --preload-app FILE',
      { exitCode: 2, code: 'wsgikit.preload-without-app' },
    );
  }
  // The CGI daemon's own log, which no server reopens for it: rotated as an app's log is. Failures
  // to write it are not reported: there is no other place left to report them to.
  const opsFile =
    options.opsLog === undefined ? null : AppLog.open({ file: options.opsLog, maxBytes: OPS_LOG_MAX_BYTES, keep: 1 });
  const ops = await pinoOpsLog('wsgi-fcgi', opsFile === null ? undefined : { write: (line) => opsFile.writeRaw(line) });
  let directory: AppDirectory;
  try {
    const host = readHostSettings(options);
    const overrides: Partial<AppSettings> = {};
    if (options.processes !== undefined) overrides.processes = options.processes;
    // An app named on the command line is the operator's explicit choice: without --root, its
    // own folder is the root. Hosting mode falls back to the host's roots, else the owner's home.
    const roots =
      options.root.length > 0 ? options.root : options.app !== undefined ? [dirname(resolve(options.app))] : [];
    directory = new AppDirectory({
      host,
      allowedRoots: roots.map((dir) => resolve(dir)),
      baseEnv: appBaseEnv(),
      ops,
      overrides,
      pythonOverride: options.python,
    });
  } catch (error) {
    fatal(error);
  }
  const fixedApp = options.app === undefined ? null : isAbsolute(options.app) ? options.app : resolve(options.app);

  let active = 0;
  let lastActivity = Date.now();
  /** No request in flight, and none ended for `ms` (or since start-up). */
  const idleFor = (ms: number) => active === 0 && Date.now() - lastActivity >= ms;
  const idleGc = new IdleCollector({ isIdle: () => idleFor(QUIET_MS) });
  const allowed = webServerAddresses();
  const serve = fastcgiResponder({
    directory,
    fixedApp,
    cgiDaemon: options.relay === true ? { hostFile: cgiHostSettingsFile(options.hostSettings) } : undefined,
    ops,
    maxConns: options.maxConns,
    onActivity: (delta) => {
      active += delta;
      // Idle needs no request in flight, so only the moment the last one ends starts the count.
      if (delta > 0) idleGc.activity();
      else if (active === 0) lastActivity = Date.now();
    },
  });
  const server = createServer((socket) => {
    if (allowed && socket.remoteAddress && !allowed.has(normalise(socket.remoteAddress))) {
      ops.warn({ peer: socket.remoteAddress }, 'connection refused: not in FCGI_WEB_SERVER_ADDRS');
      socket.destroy();
      return;
    }
    serve(socket);
  });
  server.maxConnections = options.maxConns;

  idleGc.collect(); // what start-up left behind
  const listening = await listen(server, options, ops);
  acceptWithDirectReads(server);
  if (options.user) dropPrivileges(options.user, ops);
  ops.info({ listen: listening, app: fixedApp, version: VERSION }, 'wsgi-fcgi ready');
  // After the privileges are dropped: importing runs the apps' own code.
  const preload = [
    ...(fixedApp && (options.preload || wantsPreload(directory, fixedApp)) ? [fixedApp] : []),
    ...options.preloadApp.map((f) => resolve(f)),
  ];
  for (const file of preload) preloadApp(directory, file, ops);

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    ops.info({ why, active }, 'stopping: finishing requests in flight');
    server.close();
    const waitForRequests = setInterval(() => {
      if (active > 0) return;
      clearInterval(waitForRequests);
      void directory.close().then(() => process.exit(0));
    }, 50);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    ops.info({}, 'SIGHUP: re-reading settings and recycling workers');
    try {
      directory.setHost(readHostSettings(options));
    } catch (error) {
      // A broken host file must not take the service down: keep serving with the last good one.
      ops.error({ err: (error as Error).message }, 'SIGHUP: host settings not reloaded; the previous ones stay');
    }
    directory.reloadAll('SIGHUP');
  });

  if (options.idleExit !== undefined) {
    const idleExit = options.idleExit;
    // The user's CGI daemon is started with the idle_timeout of the app that happened to start it,
    // and serves every app of the user: it stays as long as the most patient app it served asks.
    const idleSeconds = () => (options.relay === true ? directory.longestIdleTimeout(idleExit) : idleExit);
    setInterval(
      () => {
        const seconds = idleSeconds();
        if (idleFor(seconds * 1000)) stop(`idle for ${seconds} s`);
      },
      Math.min(idleExit * 1000, 5000),
    ).unref();
  }
}

/**
 * The app's own settings ask for preloading (`preload = true`). True when they cannot be read, so
 * that preloadApp reports the problem at start rather than the first visitor meeting it.
 */
function wantsPreload(directory: AppDirectory, file: string): boolean {
  try {
    return directory.lookup(file, undefined).resolved.settings.preload;
  } catch {
    return true; // preloadApp then logs why it cannot serve the app, at start rather than on a request
  }
}

/**
 * Imports an app at start. A failure is logged (the traceback in the app's log, under an incident
 * id its first visitor's page will show) and never stops the service from serving the others.
 */
function preloadApp(directory: AppDirectory, file: string, ops: OpsLog): void {
  try {
    directory.lookup(file, undefined).pool.preload(1);
    ops.info({ app: file }, 'preloading');
  } catch (error) {
    ops.error({ app: file, err: (error as Error).message }, 'preload refused: the app is not served until fixed');
  }
}

/**
 * Listens where told; returns where, for the log. Without --listen: fd 0 (or systemd's fd 3) when
 * it is a listening socket, tried rather than guessed from fstat: a socketpair from a Node parent
 * or inetd's connected socket is a socket on fd 0 too, and only a listening one accepts listen().
 */
async function listen(server: Server, options: FcgiOptions, ops: OpsLog): Promise<string> {
  const where = options.listen;
  if (where === undefined) {
    // systemd socket activation hands the socket over as fd 3 (LISTEN_FDS); mod_fcgid, spawn-fcgi
    // and the FastCGI spec's own convention as fd 0.
    const activated = process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid);
    const fd = activated ? 3 : 0;
    await new Promise<void>((done) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        fatalMessage(
          `no --listen given and fd ${fd} is not a listening socket (${error.code}); ` +
            'pass --listen /path/to.sock or --listen 127.0.0.1:9000, or start it from systemd (a .socket unit), ' +
            'mod_fcgid or spawn-fcgi',
        ),
      );
      server.listen({ fd }, done);
    });
    return activated ? 'fd 3 (systemd socket activation)' : 'fd 0';
  }
  const tcp = /^(\[[^\]]+\]|[^/:]+):(\d+)$/.exec(where);
  if (tcp) {
    const host = tcp[1]!.replace(/^\[|\]$/g, '');
    await new Promise<void>((done) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        fatalMessage(`cannot listen on ${where}: ${error.message}`),
      );
      server.listen(Number(tcp[2]), host, done);
    });
    if (!webServerAddresses()) {
      ops.warn({ listen: where }, 'listening on TCP without FCGI_WEB_SERVER_ADDRS: any local process may connect');
    }
    const address = server.address();
    // Port 0 asks for any free port: say which one.
    return typeof address === 'object' && address ? `${tcp[1]}:${address.port}` : where;
  }
  const path = resolve(where);
  if (existsSync(path)) {
    if (await answers(path)) fatalMessage(`${path} is already served by another process; stop it or use another path`);
    unlinkSync(path); // left behind by a process that died
  }
  const umask = process.umask(0o177); // no window in which others may connect
  try {
    await new Promise<void>((done) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        fatalMessage(`cannot listen on ${path}: ${error.message}`),
      );
      server.listen(path, done);
    });
  } finally {
    process.umask(umask);
  }
  chmodSync(path, options.socketMode);
  if (options.user && process.getuid?.() === 0) {
    const { uid, gid } = userIds(options.user);
    chownSync(path, uid, gid);
  }
  return path;
}

function readHostSettings(options: FcgiOptions): HostSettings {
  const host = options.hostSettings
    ? loadHostSettings(options.hostSettings)
    : existsSync(DEFAULT_HOST_SETTINGS_FILE)
      ? loadHostSettings()
      : emptyHostSettings();
  if (options.sendfile === undefined) return host;
  // A host may run Apache (X-Sendfile) and nginx (X-Accel-Redirect) side by side: each front end says which.
  const problem = sendfileModeProblem(options.sendfile, host.sendfileMap);
  if (problem !== null) {
    throw new WsgikitError('WSGIKIT_USAGE', `--sendfile ${options.sendfile}: ${problem.problem}`, {
      fix: `${problem.fix} in ${host.source ?? DEFAULT_HOST_SETTINGS_FILE}`,
    });
  }
  return { ...host, sendfile: options.sendfile };
}

function answers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const socket: Socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

function dropPrivileges(user: string, ops: OpsLog): void {
  if (process.getuid?.() !== 0) {
    ops.warn({ user }, '--user ignored: not started as root');
    return;
  }
  const { uid, gid } = userIds(user);
  // Typed on NodeJS.Process only in newer @types/node; present on POSIX since Node 0.9.
  (process as unknown as { initgroups(user: string, group: number): void }).initgroups(user, gid);
  process.setgid!(gid);
  process.setuid!(uid);
  if (process.getuid() !== uid || process.geteuid!() !== uid) fatalMessage(`could not become ${user}`);
}

function userIds(user: string): { uid: number; gid: number } {
  const entry = passwdEntries().find((u) => u.name === user);
  if (entry !== undefined) return { uid: entry.uid, gid: entry.gid };
  fatalMessage(`--user ${user}: no such user in /etc/passwd`);
}

/** The environment apps inherit: ours, less what only concerns this Node process. */
function appBaseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    // Ours, not the apps': Node's settings, the allowlist, and systemd's socket hand-over.
    if (key.startsWith('NODE_') || key.startsWith('LISTEN_') || key === 'FCGI_WEB_SERVER_ADDRS') delete env[key];
  }
  return env;
}

function webServerAddresses(): Set<string> | null {
  const list = process.env.FCGI_WEB_SERVER_ADDRS;
  if (!list) return null;
  return new Set(
    list
      .split(',')
      .map((a) => normalise(a.trim()))
      .filter(Boolean),
  );
}

function normalise(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number from 1');
  return n;
}

function octal(value: string): number {
  if (!/^0?[0-7]{3}$/.test(value)) throw new InvalidArgumentError('an octal mode such as 600 or 660');
  return parseInt(value, 8);
}

function fatal(error: unknown): never {
  if (isWsgikitError(error)) fatalMessage(error.message);
  throw error;
}

function fatalMessage(message: string): never {
  process.stderr.write(`wsgi-fcgi: ${message}\n`);
  process.exit(1);
}
