// One CGI request, from the server's environment and stdin to a response on stdout: find the
// .wsgi, repair the environ, check and resolve the app, then relay to its daemon or run it in a
// one-shot bridge. This process lives for one request, so everything here is paid per request:
// nothing is loaded that the request does not need.

import process from 'node:process';
import { defaultRoots, openAppLog, resolveApp, type ResolvedApp } from '../app/resolve-app.js';
import { homeOf } from '../app/locate.js';
import { oneShotNote } from '../app/user-space.js';
import { emptyHostSettings, loadHostSettings, type HostSettings } from '../app/settings.js';
import { WsgikitError } from '../errors.js';
import type { Readable } from 'node:stream';
import type { Environ } from '../exchange.js';
import { isRequestVariable, readCgiEnviron } from '../environ/cgi.js';
import { CGI_NO_APP_FIX, cgiHostSettingsFile } from '../request/cgi-front-end.js';
import { decideRequest, type RequestDecision } from '../request/decide-request.js';
import { refusal } from '../request/refusal.js';
import { declaredBodyLength } from '../environ/content-length.js';
import { stderrOpsLog } from '../ops-log.js';
import { hostPagesFor, hostView } from '../pages/host-pages.js';
import { DaemonPlaceError, daemonPaths, daemonSocket, relay } from './daemon.js';
import { StdoutSink } from './stdout-sink.js';

export interface CgiOptions {
  /** The .wsgi named on the command line (a .wsgi whose shebang runs wsgi-cgi passes itself). */
  appArgument: string | null;
  hostSettings?: string;
}

/** Serves the request; resolves with the exit status. */
export async function runCgi(options: CgiOptions): Promise<number> {
  // Set by the native launcher when the daemon failed after it took the request: the visitor gets
  // the 502 page, and the request is not run again (its body, if any, is spent).
  const relayFailed = process.env.WSGIKIT_CGI_RELAY_FAILED;
  delete process.env.WSGIKIT_CGI_RELAY_FAILED;
  const vars = readCgiEnviron(process.env);
  const sink = new StdoutSink(process.stdout, vars);
  let resolved: ResolvedApp;
  let environ: Environ;
  let hostFile: string | null = null;
  let host: HostSettings;
  let contentLength: number | null;
  try {
    hostFile = cgiHostSettingsFile(options.hostSettings);
    host = hostFile ? loadHostSettings(hostFile) : emptyHostSettings();
    // The host's error pages, for a refusal below as much as for the app's answer.
    sink.view = { owner: false, ...hostView(hostPagesFor(host, stderrOpsLog('wsgi-cgi')), vars) };
    contentLength = declaredBodyLength(vars.CONTENT_LENGTH);
    const decision = decideCgiRequest(vars, options.appArgument, host);
    resolved = decision.served.resolved;
    environ = decision.environ;
    if (decision.explain) explainTo(resolved, decision.explain);
    const { settings } = resolved;
    sink.view = {
      ...sink.view,
      owner: decision.owner,
      logFile: resolved.logFile,
      logInServerLog: resolved.logProblem !== null,
      setupNotes: resolved.ownerNotes,
      maxBodyBytes: settings.maxBodyBytes,
    };
  } catch (error) {
    return refuse(error, sink, options.appArgument);
  }
  if (relayFailed !== undefined) return daemonFailed(resolved, sink, relayFailed);

  const { settings, checked } = resolved;
  const baseEnv = processEnvironment();
  const body = requestBody(environ, contentLength);

  let daemonProblem: string | null = null;
  if (settings.cgiDaemon) {
    try {
      const home = homeOf(process.getuid?.() ?? -1);
      const socket = await daemonSocket({
        paths: daemonPaths(home, hostFile),
        home,
        idleExit: settings.idleTimeout,
        env: baseEnv,
        logProblem: resolved.logProblem,
        hostSettings: hostFile,
        roots: defaultRoots(host),
      });
      const result = await relay(socket, checked.file, environ, body.stream, process.stdout);
      if (result.ok) return 0;
      // Part of the answer is out, or the body is spent: this request cannot be run again.
      if (result.wrote || body.stream !== null) return daemonFailed(resolved, sink, result.error.message);
      daemonProblem = result.error.message;
    } catch (error) {
      daemonProblem = (error as Error).message;
      if (error instanceof DaemonPlaceError) {
        const setupNotes = [...resolved.ownerNotes, oneShotNote(error.place)];
        sink.view = { ...sink.view, setupNotes };
        resolved = { ...resolved, ownerNotes: setupNotes };
      }
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

/** The daemon failed during the request: the 502 page (if nothing is out yet), the incident in the app's log. */
function daemonFailed(resolved: ResolvedApp, sink: StdoutSink, why: string): number {
  const incident = appendIncident(resolved, `the app's daemon failed during the request: ${why}`);
  sink.fail(new WsgikitError('WSGIKIT_WORKER_CRASHED', "The app's daemon failed during the request.", { incident }));
  return 0;
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
  const appLog = openAppLog(resolved);
  appLog.write('explain', lines.join('\n'));
  appLog.close();
}

function appendIncident(resolved: ResolvedApp, summary: string): string | undefined {
  try {
    const appLog = openAppLog(resolved);
    const incident = appLog.incident(summary);
    appLog.close();
    return incident;
  } catch {
    process.stderr.write(`wsgi-cgi: ${summary}\n`);
    return undefined;
  }
}

/** The request's decisions (src/request/decide-request.ts), its app resolved afresh under `host`. */
export function decideCgiRequest(
  vars: Environ,
  appArgument: string | null,
  host: HostSettings,
): RequestDecision<{ resolved: ResolvedApp }> {
  return decideRequest(vars, appArgument, false, {
    lookup: (appFile, documentRoot) => ({ resolved: resolveApp(appFile, { host, documentRoot }) }),
    noAppFix: CGI_NO_APP_FIX,
  });
}

/**
 * The request is refused (src/request/refusal.ts): the plain page, the reason on stderr (the
 * server's log) and, when the .wsgi is named on the command line (a shebang, a stub), in its
 * owner's log even before the decisions know it (a malformed CONTENT_LENGTH, say).
 */
function refuse(error: unknown, sink: StdoutSink, named: string | null): number {
  const failure = refusal(error, named);
  process.stderr.write(`wsgi-cgi: incident ${failure.incident}: ${failure.message}\n`);
  sink.fail(failure);
  return 0;
}
