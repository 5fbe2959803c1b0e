#!/usr/bin/env node
// wsgi-run: serve a .wsgi on local HTTP through the same pool and bridge as production, with
// tracebacks in the browser, the app's log on the terminal, and a reload when its code changes.

import process from 'node:process';
import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isWsgikitError } from '../errors.js';
import { appEnvironment, appOffloadPolicy, openAppLog, resolveApp } from '../app/resolve-app.js';
import { emptyHostSettings, loadHostSettings, type AppSettings, type HostSettings } from '../app/settings.js';
import { createHttpFrontEnd } from '../http/server.js';
import { LAYOUTS, type LayoutName } from '../environ/layouts.js';
import type { AppRequest, ResponseSink } from '../exchange.js';
import type { AppLog } from '../logs/app-log.js';
import type { OpsLog } from '../ops-log.js';
import { Pool } from '../pool/pool.js';
import { layoutHandler } from '../request/layout-request.js';
import { VERSION } from '../version.js';

interface RunOptions {
  port: number;
  host: string;
  python?: string;
  processes?: number;
  mount?: string;
  cgi?: boolean;
  hostSettings?: string;
  reload: boolean;
  layout?: LayoutName;
}

const program = new Command()
  .name('wsgi-run')
  .description('Serve a .wsgi app on local HTTP through the same machinery as on a host.')
  .argument('<app>', 'the .wsgi file (a Python file that defines `application`)')
  .option('-p, --port <n>', 'port to listen on (0: any free port)', port, 8000)
  .option('-H, --host <address>', 'address to listen on', '127.0.0.1')
  .option('--python <path>', 'the Python to run the app with (default: settings, venv, shebang, host)')
  .option('--processes <n>', 'most worker processes at once', positive)
  .option('--mount <prefix>', 'serve the app under this URL prefix (SCRIPT_NAME), e.g. /blog', mountPrefix)
  .option('--cgi', 'one process per request, as a CGI host runs it')
  .addOption(
    new Option('--layout <name>', 'replay how a host layout presents each request, and explain the repair').choices(
      Object.keys(LAYOUTS),
    ),
  )
  .option('--host-settings <file>', 'host settings to apply, as on the host (default: none)')
  .option('--no-reload', 'do not reload when a .py file under the app folder changes')
  .version(VERSION)
  .showHelpAfterError()
  .action((app: string, options: RunOptions) => run(app, options));

await program.parseAsync();

async function run(app: string, options: RunOptions): Promise<void> {
  const say = (line: string) => process.stdout.write(line + '\n');
  let resolved;
  let host: HostSettings;
  try {
    host = options.hostSettings ? loadHostSettings(options.hostSettings) : emptyHostSettings();
    const overrides: Partial<AppSettings> = {};
    if (options.processes !== undefined) overrides.processes = options.processes;
    if (options.mount !== undefined) overrides.mount = options.mount;
    // A layout replays a host's request and says how it was repaired.
    if (options.layout !== undefined) overrides.explain = true;
    resolved = resolveApp(app, {
      host,
      overrides,
      pythonOverride: options.python,
      allowedRoots: [dirname(app.startsWith('/') ? app : `${process.cwd()}/${app}`)],
      onRefused: (error) => say(`wsgikit: warning: a host would refuse this app: ${error.message}`),
    });
  } catch (error) {
    fatal(error);
  }
  const { checked, settings, python, logFile, chroot } = resolved;
  for (const warning of settings.warnings) say(`wsgikit: warning: ${warning}`);

  let log: AppLog;
  try {
    // A log kept in the server's error log is this terminal's stderr already: no echo.
    log = openAppLog(resolved, resolved.logProblem === null ? { echo: (line) => say(line) } : {});
  } catch (error) {
    fatal(error);
  }
  const ops = terminalOpsLog(say);
  const pool = new Pool({
    appFile: checked.file,
    python: python.path,
    env: appEnvironment(process.env, settings),
    limits: options.cgi ? settings : { ...settings, minProcesses: Math.max(1, settings.minProcesses) },
    log,
    ops,
    oneshot: options.cgi === true,
    chroot,
    // No web server in front to hand a file to: wsgikit sends it itself, after the same checks.
    offload: appOffloadPolicy(resolved, host, 'none'),
  });

  const mount = settings.mount ?? '';
  const layout = options.layout;
  // With a layout, the request is presented as that host would present it and repaired as there
  // (mount included); without, wsgi-run mounts the app itself.
  const handle = layout
    ? layoutHandler(layout, { resolved, pool }, say)
    : (request: AppRequest, sink: ResponseSink) => pool.handle(request, sink);
  const server = createHttpFrontEnd({
    handle,
    mount: layout ? '' : mount,
    serverSoftware: `wsgikit/${VERSION} (wsgi-run)`,
    isOwner: () => true,
    view: { logFile, logInServerLog: resolved.logProblem !== null, setupNotes: resolved.ownerNotes },
    status: { pool, ownerTokenSha256: settings.ownerTokenSha256, setupNotes: resolved.ownerNotes },
    onDone: (req, status, ms) => say(`${req.method} ${req.url} → ${status} (${ms} ms)`),
  });
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EADDRINUSE')
      fatalMessage(`port ${options.port} on ${options.host} is in use: pass --port N (0 picks a free one)`);
    if (error.code === 'EACCES') fatalMessage(`not allowed to listen on port ${options.port}: use a port above 1023`);
    fatalMessage(`cannot listen on ${options.host}:${options.port}: ${error.message}`);
  });
  server.listen(options.port, options.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    const shown = options.host.includes(':') ? `[${options.host}]` : options.host;
    say(`wsgikit ${VERSION}: serving ${checked.file}`);
    const urlPath =
      layout === 'action' || layout === 'nginx-split' ? `/${basename(checked.file)}` : layout ? '' : mount;
    say(`  URL:     http://${shown}:${port}${urlPath}/`);
    say(`  Python:  ${python.path} (${python.reason})`);
    say(`  Log:     ${resolved.logProblem === null ? `${logFile} (shown here too)` : 'this terminal (stderr)'}`);
    say(
      `  Mode:    ${options.cgi ? 'one process per request (--cgi)' : `up to ${settings.processes} worker processes`}`,
    );
    if (layout) say(`  Layout:  ${layout}: ${LAYOUTS[layout]}`);
    say(
      `  Reload:  touch ${checked.file} or restart.txt beside it${options.reload ? ', or change any .py under its folder' : ''}`,
    );
    if (!isLoopback(options.host)) {
      say(`  WARNING: ${options.host} is reachable from other machines, and wsgi-run shows tracebacks to every`);
      say('           visitor. Use it for debugging only; on a host, CGI or FastCGI show them to the owner alone.');
    }
    if (!options.cgi) pool.preload();
  });

  if (options.reload) watchSources(dirname(checked.file), (file) => pool.reload(`${file} changed`));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    say(`wsgikit: ${signal}: stopping (again to force)`);
    server.close();
    server.closeAllConnections();
    void pool.close(5000).then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** Reloads on a change to a Python source under the app's folder; virtualenvs and caches excluded. */
function watchSources(folder: string, onChange: (file: string) => void): void {
  let timer: NodeJS.Timeout | null = null;
  try {
    const watcher = watch(folder, { recursive: true }, (_event, name) => {
      if (!name || !/\.(py|wsgi)$/.test(name) || /(^|\/)(\.?venv|__pycache__|site-packages|\.git)\//.test(name)) return;
      // Editors write a file in several steps; one reload for the lot.
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => onChange(name), 100);
    });
    watcher.on('error', () => watcher.close());
  } catch {
    // No recursive watch here (an old kernel, a network file system): touching the file still works.
  }
}

function terminalOpsLog(say: (line: string) => void): OpsLog {
  const line = (level: string) => (fields: object, message: string) => {
    if (message === 'app loaded' || message === 'reloading') return; // the app log says it already
    say(`wsgikit: ${level}${message} ${JSON.stringify(fields)}`);
  };
  return { info: line(''), warn: line('warning: '), error: line('error: ') };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function fatal(error: unknown): never {
  if (isWsgikitError(error)) fatalMessage(error.message);
  throw error;
}

function fatalMessage(message: string): never {
  process.stderr.write(`wsgi-run: ${message}\n`);
  process.exit(1);
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number 0-65535');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number from 1');
  return n;
}

function mountPrefix(value: string): string {
  const trimmed = value.replace(/\/+$/, '');
  if (trimmed !== '' && !trimmed.startsWith('/')) throw new InvalidArgumentError('a prefix starts with /, e.g. /blog');
  return trimmed;
}
