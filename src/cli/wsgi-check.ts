#!/usr/bin/env node
// wsgi-check: the host doctor. Imports the app the way the host will, simulates suEXEC's and
// cgiwrap's checks, finds the Python, the log and the body limits, and prints each problem with
// the exact fix. Exit status: 0 nothing wrong, 1 something is, 2 usage.

import process from 'node:process';
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { isWsgikitError } from '../errors.js';
import { explainLayouts, formatExplain } from '../check/explain.js';
import { formatText, toJson } from '../check/report.js';
import { buildContext, runCheck, type CheckResult } from '../check/run-check.js';
import type { CheckMode } from '../check/types.js';
import { SENDFILE_MODES, type SendfileMode } from '../app/sendfile-settings.js';
import { hostEnvironment } from '../check/import-check.js';
import { logFileOf } from '../check/log-checks.js';
import { within } from '../time-limit.js';
import { VERSION } from '../version.js';

/** How long --start waits at most to see the import succeed or fail before it reports anyway. */
const IMPORT_WAIT_MAX_S = 10;

interface Options {
  hostSettings?: string;
  mode?: Exclude<CheckMode, null>;
  docroot?: string;
  suexecDocroot?: string;
  suexecBin?: string;
  suexecConfig?: string;
  apacheUser?: string;
  asUser?: string;
  stub?: string;
  explain?: string;
  json?: boolean;
  import: boolean;
  start?: boolean;
  sendfile?: SendfileMode;
}

const program = new Command()
  .name('wsgi-check')
  .description(
    'Check that a .wsgi app will run on this host: imports it as the host will, simulates the suEXEC and ' +
      'cgiwrap checks, finds its Python, its log and the server body limits, and prints each problem with its fix.',
  )
  .argument('[app]', 'the .wsgi file (default: the only .wsgi in the current folder)')
  .option('--host-settings <file>', 'host settings (default: /etc/wsgikit/host.toml when present)')
  .addOption(
    new Option('--mode <host>', 'which host rules to simulate (default: suEXEC and cgiwrap, as warnings)').choices([
      'cgi',
      'suexec',
      'cgiwrap',
      'fcgi',
    ]),
  )
  .option(
    '--docroot <dir>',
    'the document root (default: the nearest folder above named public_html, www, htdocs or html)',
  )
  .option('--suexec-docroot <dir>', "suEXEC's document root (default: the active suEXEC's; `suexec -V` as root)")
  .option('--suexec-bin <path>', 'the suEXEC Apache runs (default: /usr/lib/apache2/suexec, pristine or custom)')
  .option('--suexec-config <file>', "apache2-suexec-custom's file (default: /etc/apache2/suexec/APACHE_USER)")
  .option('--apache-user <name>', 'the user Apache runs as, whose file the custom suEXEC reads (default: www-data)')
  .option(
    '--as-user <user>',
    "check for this user (NAME, UID or UID:GID); default: you, or the .wsgi's owner when run as root",
  )
  .option(
    '--stub <file>',
    'the CGI program an Action handler runs (default: looked for in .htaccess and the usual cgi-bin)',
  )
  .option('--explain <url-path>', 'print how SCRIPT_NAME and PATH_INFO come out for this URL in each layout, and stop')
  .option('--json', 'print one JSON object (for panels and scripts)')
  .option('--no-import', 'do not import the app')
  .option('--start', 'after a clean check, start the CGI daemon now (for a cron @reboot line)')
  .addOption(
    new Option(
      '--sendfile <mode>',
      'check file offload as a wsgi-fcgi started with this --sendfile sends files',
    ).choices(SENDFILE_MODES),
  )
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride()
  .action((app: string | undefined, options: Options) => main(app, options));

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode =
      error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`wsgi-check: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}

async function main(appArg: string | undefined, options: Options): Promise<void> {
  const app = appArg ?? onlyWsgiHere();
  const checkOptions = {
    app,
    hostSettings: options.hostSettings,
    mode: options.mode ?? null,
    docroot: options.docroot,
    suexecDocroot: options.suexecDocroot,
    suexecBin: options.suexecBin,
    suexecConfig: options.suexecConfig,
    apacheUser: options.apacheUser,
    asUser: options.asUser,
    stub: options.stub,
    importApp: options.import,
    ...(options.sendfile === undefined ? {} : { sendfile: options.sendfile }),
  };

  if (options.explain !== undefined) {
    let ctx;
    try {
      ctx = buildContext(checkOptions).ctx;
    } catch (error) {
      usage((error as Error).message);
    }
    if (ctx.real === null) usage(`${ctx.given} does not exist or is not a file`);
    if (ctx.docroot === null) usage('the document root is unknown: pass --docroot DIR');
    let layouts;
    try {
      layouts = explainLayouts({
        appFile: ctx.real,
        docroot: ctx.docroot,
        urlPath: options.explain,
        mount: ctx.settings?.mount ?? null,
        stubFile: ctx.layout.kind === 'stub' ? ctx.layout.program : null,
      });
    } catch (error) {
      usage((error as Error).message);
    }
    process.stdout.write(
      options.json ? JSON.stringify({ url: options.explain, layouts }, null, 2) + '\n' : formatExplain(layouts),
    );
    process.exitCode = 0;
    return;
  }

  let result: CheckResult;
  try {
    result = await runCheck(checkOptions);
  } catch (error) {
    if (isWsgikitError(error)) usage(error.message);
    throw error;
  }

  let started: Record<string, unknown> | undefined;
  if (options.start) started = await startDaemon(result);

  if (options.json) process.stdout.write(toJson(result, started ? { start: started } : {}));
  else {
    process.stdout.write(formatText(result));
    if (started) process.stdout.write(`${started.message as string}\n`);
  }
  process.exitCode = result.ok && (started === undefined || started.ok === true) ? 0 : 1;
}

/**
 * --start: what wsgi-cgi does on a first request, now, and the import that request would pay too
 * (the point of starting early). Only after a check with no error.
 */
async function startDaemon(result: CheckResult): Promise<Record<string, unknown>> {
  const ctx = result.context;
  if (!result.ok) return { ok: false, message: 'Daemon not started: fix the errors above first.' };
  if (ctx.real === null || ctx.settings === null || result.pythonPath === null) {
    return { ok: false, message: 'Daemon not started: the app could not be resolved.' };
  }
  if (!ctx.settings.cgiDaemon) return { ok: false, message: 'Daemon not started: cgi_daemon = false in the settings.' };
  const uid = process.getuid?.() ?? -1;
  if (ctx.target.uid !== uid || ctx.target.home === null) {
    return {
      ok: false,
      message: `Daemon not started: run --start as uid ${ctx.target.uid} itself (the daemon runs as its starter).`,
    };
  }
  const logFile = logFileOf(ctx);
  if (logFile === null) return { ok: false, message: 'Daemon not started: no log file.' };
  const { connectDaemon, daemonPaths, daemonSocket } = await import('../cgi/daemon.js');
  const paths = daemonPaths(ctx.target.home, ctx.hostFile);
  const idle =
    `it exits after ${ctx.settings.idleTimeout} s without requests (idle_timeout), or the longest ` +
    `idle_timeout of the user's other apps it has served`;

  // A second past startup_timeout lets the pool report its own timeout first.
  const waitMs = Math.min(ctx.settings.startupTimeout + 1, IMPORT_WAIT_MAX_S) * 1000;
  // The user's daemon may run already, started by a request or an earlier --start (maybe for
  // another app): it imports this app all the same, unless a worker of it already runs there.
  const running = await connectDaemon(paths.socket);
  const startedNow = running instanceof Error;
  let socket: Socket;
  if (running instanceof Error) {
    try {
      socket = await daemonSocket({
        paths,
        home: ctx.target.home,
        idleExit: ctx.settings.idleTimeout,
        env: hostEnvironment({}),
        hostSettings: ctx.hostFile,
        roots: ctx.roots,
      });
    } catch (error) {
      return { ok: false, message: `Daemon not started: ${(error as Error).message}` };
    }
  } else {
    socket = running;
  }
  const warmed = await warmInDaemon(socket, ctx.real, waitMs);
  const listening = startedNow
    ? `Daemon listening on ${paths.socket} (its own log: ${paths.log})`
    : `Daemon already listening on ${paths.socket} (the user's, for every app; its own log: ${paths.log})`;
  const started = {
    socket: paths.socket,
    log: paths.log,
    ...(typeof warmed.daemon === 'number' ? { pid: warmed.daemon } : {}),
  };
  if (warmed.ok === true) {
    return {
      ok: true,
      ...started,
      imported: true,
      message: `${listening}, the app imported and a worker running (pid ${String(warmed.pid)}); ${idle}.`,
    };
  }
  if (warmed.ok === false) {
    const incident = typeof warmed.incident === 'string' ? warmed.incident : null;
    return {
      ok: false,
      ...started,
      imported: false,
      incident,
      message:
        `${listening}, but the app failed to load in it: ${String(warmed.message)}` +
        `${incident === null ? '' : ` (incident ${incident}; the details are in ${logFile})`}.`,
    };
  }
  const why =
    typeof warmed.message === 'string'
      ? warmed.message
      : `the app's import had not finished after ${waitMs / 1000} s (its outcome will be in ${logFile})`;
  return { ok: true, ...started, imported: null, message: `${listening}; ${why}; ${idle}.` };
}

/**
 * Asks the running daemon on `socket` to import `appFile` (src/fastcgi/responder.ts warmed) and
 * returns its JSON answer: `ok` true (with the worker's pid) or false (with the message and
 * incident), or `ok` null when no answer came within `waitMs` or the answer was not understood.
 */
async function warmInDaemon(socket: Socket, appFile: string, waitMs: number): Promise<Record<string, unknown>> {
  const { collectResponse, fastcgiRequest } = await import('../fastcgi/client.js');
  const { warmParams } = await import('../request/relayed-cgi.js');
  try {
    const result = await within(collectResponse(fastcgiRequest(socket, { params: warmParams(appFile) })), waitMs);
    if (result === null) return { ok: null };
    const text = result.stdout.toString('utf8');
    try {
      return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    } catch {
      return {
        ok: null,
        message:
          'it did not understand the request to import the app now (a daemon of another wsgikit version?): ' +
          'it imports the app on its first request',
      };
    }
  } catch (error) {
    return { ok: false, message: `the daemon did not answer (${(error as Error).message})` };
  } finally {
    socket.destroy();
  }
}

function onlyWsgiHere(): string {
  let names: string[] = [];
  try {
    names = readdirSync('.').filter((n) => n.endsWith('.wsgi'));
  } catch {
    // unreadable cwd: the usage error below says what to do
  }
  if (names.length === 1) return path.resolve(names[0]!);
  usage(
    names.length === 0
      ? 'no .wsgi file here: name the app, e.g. wsgi-check ~/public_html/app.wsgi'
      : `several .wsgi files here (${names.join(', ')}): name the one to check`,
  );
}

function usage(message: string): never {
  process.stderr.write(`wsgi-check: ${message}\n`);
  process.exit(2);
}
