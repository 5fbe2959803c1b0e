// One CGI request, from the server's environment and stdin to a response on stdout: find the
// .wsgi, repair the environ, check and resolve the app, then relay to its daemon or run it in a
// one-shot bridge. This process lives for one request, so everything here is paid per request:
// nothing is loaded that the request does not need.

import { existsSync } from 'node:fs';
import { isOwnerRequest } from '../app/owner.js';
import { defaultRoots, resolveApp, type ResolvedApp } from '../app/resolve-app.js';
import { homeOf } from '../app/locate.js';
import { DEFAULT_HOST_SETTINGS_FILE, emptyHostSettings, loadHostSettings, type HostSettings } from '../app/settings.js';
import { isWsgikitError, WsgikitError } from '../errors.js';
import type { Readable } from 'node:stream';
import type { Environ } from '../exchange.js';
import { isRequestVariable, readCgiEnviron } from '../environ/cgi.js';
import { declaredBodyLength } from '../environ/content-length.js';
import { repairEnvironOnDisk } from '../environ/repair-fs.js';
import { AppLog } from '../logs/app-log.js';
import { logRefusal } from '../logs/refusal-log.js';
import { stderrOpsLog } from '../ops-log.js';
import { hostPagesFor, hostView } from '../pages/host-pages.js';
import { daemonPaths, daemonSocket, relay } from './daemon.js';
import { StdoutSink } from './stdout-sink.js';

export interface CgiOptions {
  /** The .wsgi named on the command line (a .wsgi whose shebang runs wsgi-cgi passes itself). */
  appArgument: string | null;
  hostSettings?: string;
}

/** Serves the request; resolves with the exit status. */
export async function runCgi(options: CgiOptions): Promise<number> {
  const vars = readCgiEnviron(process.env);
  const sink = new StdoutSink(process.stdout, vars);
  let resolved: ResolvedApp;
  let environ: Environ;
  let hostFile: string | null = null;
  let host: HostSettings;
  let contentLength: number | null;
  try {
    const first = repairEnvironOnDisk({ vars, mount: null });
    const appFile = options.appArgument ?? first.appFile ?? fromServer(vars);
    hostFile = options.hostSettings ?? (existsSync(DEFAULT_HOST_SETTINGS_FILE) ? DEFAULT_HOST_SETTINGS_FILE : null);
    host = hostFile ? loadHostSettings(hostFile) : emptyHostSettings();
    // The host's error pages, for a refusal below as much as for the app's answer.
    sink.view = { owner: false, ...hostView(hostPagesFor(host, stderrOpsLog('wsgi-cgi')), vars) };
    contentLength = declaredBodyLength(vars.CONTENT_LENGTH);
    resolved = resolveApp(appFile, { host, documentRoot: vars.DOCUMENT_ROOT || undefined });
    const { settings } = resolved;
    const repair = settings.mount === null ? first : repairEnvironOnDisk({ vars, mount: settings.mount });
    environ = repair.environ;
    if (settings.explain) explainTo(resolved, repair.explain);
    const owner = settings.tracebacks === 'owner' && isOwnerRequest(settings, vars.REMOTE_ADDR ?? '', vars.HTTP_COOKIE);
    sink.view = { ...sink.view, owner, logFile: resolved.logFile, maxBodyBytes: settings.maxBodyBytes };
  } catch (error) {
    return refuse(error, sink, options.appArgument ?? vars.SCRIPT_FILENAME ?? null);
  }

  const { settings, checked, python, logFile } = resolved;
  const baseEnv = processEnvironment();
  const body = requestBody(environ, contentLength);

  let daemonProblem: string | null = null;
  if (settings.cgiDaemon) {
    try {
      const socket = await daemonSocket({
        paths: daemonPaths(homeOf(process.getuid?.() ?? -1), checked.file, python.path),
        appFile: checked.file,
        idleExit: settings.idleTimeout,
        env: baseEnv,
        logFile,
        hostSettings: hostFile,
        roots: defaultRoots(host),
      });
      const result = await relay(socket, environ, body.stream, process.stdout);
      if (result.ok) return 0;
      if (result.wrote || body.stream !== null) {
        // Part of the answer is out, or the body is spent: this request cannot be run again.
        const incident = appendIncident(
          resolved,
          `the app's daemon failed during the request: ${result.error.message}`,
        );
        sink.fail(
          new WsgikitError('WSGIKIT_WORKER_CRASHED', "The app's daemon failed during the request.", { incident }),
        );
        return 0;
      }
      daemonProblem = result.error.message;
    } catch (error) {
      daemonProblem = (error as Error).message;
    }
  }

  // One-shot: loaded only now, so that a relayed request never loads the pool and the bridge.
  const { runOneShot } = await import('./run-oneshot.js');
  const request = {
    environ,
    body: body.stream,
    contentLength: body.contentLength,
    owner: sink.view.owner,
    hostPages: sink.view.hostPages,
  };
  await runOneShot(resolved, host, request, sink, baseEnv, daemonProblem);
  return 0;
}

/** The CGI script named by the server: PATH_TRANSLATED (Action handler) is handled by the repair. */
function fromServer(vars: Environ): string {
  const file = vars.SCRIPT_FILENAME;
  if (!file) {
    throw new WsgikitError(
      'WSGIKIT_APP_NOT_FOUND',
      'No .wsgi was named: give it as the argument of wsgi-cgi, run a .wsgi whose first line is ' +
        '#!/usr/bin/env wsgi-cgi, or use it as an Action handler for .wsgi files.',
    );
  }
  return Buffer.from(file, 'latin1').toString('utf8');
}

function requestBody(
  environ: Environ,
  contentLength: number | null,
): { stream: Readable | null; contentLength: number | null } {
  if (contentLength !== null) return { stream: contentLength > 0 ? process.stdin : null, contentLength };
  // A chunked request body: the server streams it and closes stdin at its end.
  if (environ.HTTP_TRANSFER_ENCODING !== undefined) return { stream: process.stdin, contentLength: null };
  return { stream: null, contentLength: null };
}

/** What the app's processes inherit: the server's environment without this request's variables. */
function processEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!isRequestVariable(key) && !key.startsWith('NODE_')) env[key] = value;
  }
  return env;
}

function explainTo(resolved: ResolvedApp, lines: string[]): void {
  const appLog = AppLog.open({
    file: resolved.logFile,
    maxBytes: resolved.settings.logMaxBytes,
    keep: resolved.settings.logKeep,
  });
  appLog.write('explain', lines.join('\n'));
  appLog.close();
}

function appendIncident(resolved: ResolvedApp, summary: string): string | undefined {
  try {
    const appLog = AppLog.open({
      file: resolved.logFile,
      maxBytes: resolved.settings.logMaxBytes,
      keep: resolved.settings.logKeep,
    });
    const incident = appLog.incident(summary);
    appLog.close();
    return incident;
  } catch {
    process.stderr.write(`wsgi-cgi: ${summary}\n`);
    return undefined;
  }
}

/**
 * The app could not be found, checked or resolved. The visitor gets the plain page; the reason
 * goes to the default log of the app's owner when there is one to name, and always to stderr
 * (the server's error log).
 */
function refuse(error: unknown, sink: StdoutSink, appFile: string | null): number {
  const failure = isWsgikitError(error) ? error : new WsgikitError('WSGIKIT_BAD_REQUEST', String(error));
  const incident = appFile ? logRefusal(appFile, () => homeOf(process.getuid?.() ?? -1), failure.message) : null;
  failure.incident = incident ?? undefined;
  process.stderr.write(`wsgi-cgi: ${incident ? `incident ${incident}: ` : ''}${failure.message}\n`);
  sink.fail(failure);
  return 0;
}
