// The FastCGI responder: one FastcgiConnection per accepted socket, each request translated into
// an AppRequest for the pool of the app it names, and the answer written back as a CGI-style
// response in STDOUT records. Nothing of FastCGI goes further than this file.

import type { Socket } from 'node:net';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import type { ResolvedApp } from '../app/resolve-app.js';
import { cgiResponseHead } from '../response-head.js';
import { WsgikitError } from '../errors.js';
import type { AppRequest, ResponseHeaders, ResponseSink } from '../exchange.js';
import { declaredBodyLength } from '../environ/content-length.js';
import type { OpsLog } from '../ops-log.js';
import { failurePage, type PageView } from '../pages/error-page.js';
import { hostView } from '../pages/host-pages.js';
import { answerStatusRoute } from '../status/status-route.js';
import type { AppDirectory, ServedApp } from '../pool/app-directory.js';
import type { LoadOutcome } from '../pool/pool.js';
import { decideRequest, type FrontEnd, type RequestDecision } from '../request/decide-request.js';
import { refusal } from '../request/refusal.js';
import { SERVED_ROLES, authorizerEnviron } from './authorizer.js';
import { FastcgiConnection, type FastcgiRequest } from './connection.js';
import { LAUNCHER_DECLINE, LAUNCHER_PROCEED, Role } from './protocol.js';
import {
  LAUNCHER_PARAM,
  decideRelayedCgi,
  relayedCgiFrontEnd,
  takeNodeEntryApp,
  warmPool,
  type RelayedCgiFrontEnd,
} from '../request/relayed-cgi.js';

export interface ResponderOptions {
  directory: AppDirectory;
  /** --app: every request runs this .wsgi. Null: the one the server names (hosting mode). */
  fixedApp: string | null;
  /**
   * This is the user's CGI daemon (wsgi-fcgi --relay) and these are its host settings: it serves
   * requests the Node entry relays (repaired, naming their app) and those the native launcher
   * relays (raw CGI: decided here as the Node entry would, src/request/relayed-cgi.ts).
   */
  cgiDaemon?: { hostFile: string | null };
  ops: OpsLog;
  /** Reported as FCGI_MAX_CONNS / FCGI_MAX_REQS. */
  maxConns: number;
  /** Told when a request starts and when it is answered, for idle-exit and graceful stops. */
  onActivity?(delta: 1 | -1): void;
}

/** What every request of a responder is decided with, made once. */
interface Responder {
  options: ResponderOptions;
  frontEnd: FrontEnd<ServedApp>;
  /** The CGI daemon's lookup for the requests the native launcher relays; null: not the daemon. */
  relayed: RelayedCgiFrontEnd | null;
}

/**
 * What serves each accepted socket. The options and the front ends' lookups are made here once,
 * not per connection: under mod_fcgid every request comes on a connection of its own.
 */
export function fastcgiResponder(options: ResponderOptions): (socket: Socket) => FastcgiConnection {
  const responder: Responder = {
    options,
    frontEnd: {
      lookup: (appFile, documentRoot) => options.directory.lookup(appFile, documentRoot),
      noAppFix:
        'pass --app to wsgi-fcgi or send SCRIPT_FILENAME ' +
        '(nginx: fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name).',
    },
    relayed: options.cgiDaemon === undefined ? null : relayedCgiFrontEnd(options.directory, options.cgiDaemon.hostFile),
  };
  const onError = (error: Error): void => {
    options.ops.warn({ err: error.message }, 'FastCGI connection closed on a protocol error');
  };
  return (socket) => {
    const connection: FastcgiConnection = new FastcgiConnection(socket, {
      maxConns: options.maxConns,
      roles: SERVED_ROLES,
      onRequest: (request) => dispatch(connection, request, responder),
      onError,
    });
    return connection;
  };
}

function dispatch(connection: FastcgiConnection, request: FastcgiRequest, responder: Responder): void {
  const { options, frontEnd, relayed: daemon } = responder;
  if (request.aborted) return;
  options.onActivity?.(1);
  const sink = new FastcgiSink(connection, request, options.onActivity);
  // Objects below are spelled out rather than spread: spreads were a visible share of the
  // front end's time per request (bench: --cpu-prof under wrk).
  const host = hostView(options.directory.hostPages, request.params);
  sink.view = { owner: false, hostPages: host.hostPages, siteName: host.siteName };
  if (daemon !== null) {
    let warming: ReturnType<typeof warmPool>;
    try {
      warming = warmPool(request.params, daemon);
    } catch (error) {
      return warmed(sink, { error: error as WsgikitError });
    }
    if (warming !== undefined) return warming.warm((outcome) => warmed(sink, outcome));
  }
  let appRequest: AppRequest;
  let served: ServedApp;
  const authorizer = request.role === Role.Authorizer;
  try {
    const vars = request.params;
    if (request.droppedParams.length > 0) {
      throw new WsgikitError(
        'WSGIKIT_BAD_REQUEST',
        `The request's ${request.droppedParams.join(', ')} held a NUL byte, which no app can be given.`,
      );
    }
    const declared = authorizer ? null : declaredBodyLength(vars.CONTENT_LENGTH);
    let decision: RequestDecision<{ resolved: ResolvedApp }>;
    // The app a request the Node entry relayed names; taking it out of `vars` leaves
    // request.paramFields spelling a param the environ no longer has.
    let relayedApp: string | undefined;
    if (daemon !== null && vars[LAUNCHER_PARAM] !== undefined) {
      const relayed = decideRelayedCgi(vars, daemon);
      if (relayed.decline !== null) {
        options.ops.info({ script: vars.SCRIPT_FILENAME, why: relayed.decline }, 'CGI request handed back to wsgi-cgi');
        request.end(LAUNCHER_DECLINE);
        options.onActivity?.(-1);
        return;
      }
      served = relayed.served;
      decision = relayed.decision;
      request.sendSignal(LAUNCHER_PROCEED);
    } else {
      // The Node entry relayed it: it named the app and repaired the environ.
      relayedApp = daemon === null ? undefined : takeNodeEntryApp(vars);
      const decided = decideRequest(vars, relayedApp ?? options.fixedApp, relayedApp !== undefined, frontEnd);
      served = decided.served;
      decision = decided;
    }
    if (decision.explain) served.pool.log.write('explain', decision.explain.join('\n'));
    const { owner } = decision;
    const environ = authorizer ? authorizerEnviron(decision.environ) : decision.environ;
    const { settings } = served.resolved;
    sink.view = {
      owner,
      logFile: served.resolved.logFile,
      logInServerLog: served.resolved.logProblem !== null,
      setupNotes: served.resolved.ownerNotes,
      maxBodyBytes: settings.maxBodyBytes,
      hostPages: host.hostPages,
      siteName: host.siteName,
    };
    const empty = authorizer || (request.stdinComplete && request.stdinBuffered === 0);
    // Most requests keep the server's variables as they came: the bridge's frame is then joined
    // from them in their order. Not when the object was changed in place: an authorizer's environ,
    // or a request the Node entry relayed, whose app param was taken out.
    const environFields = !authorizer && environ === vars && relayedApp === undefined ? request.paramFields : undefined;
    appRequest = {
      environ,
      owner,
      body: empty ? null : request.stdin,
      contentLength: declared,
      hostPages: host.hostPages,
      environFields,
    };
  } catch (error) {
    // The app's own log is not known (it was refused, or its settings did not load): the
    // refusal is in its owner's default log when the decision knew the .wsgi, and in the server's.
    const failure = refusal(error, null);
    options.ops.warn(
      { incident: failure.incident, code: failure.code, script: request.params.SCRIPT_FILENAME },
      failure.message,
    );
    sink.fail(failure);
    return;
  }
  // An authorizer's answer decides access to something else: never the status page's.
  const token = served.resolved.settings.ownerTokenSha256;
  if (!authorizer && answerStatusRoute(appRequest, served.pool, token, sink, served.resolved.ownerNotes)) return;
  served.pool.handle(appRequest, sink);
}

/**
 * The answer to wsgi-check --start (src/request/relayed-cgi.ts warmPool), as JSON: how the import
 * went. Only the socket's owner can ask, and the app is theirs, so it may say everything the app's
 * log would.
 */
function warmed(sink: FastcgiSink, outcome: LoadOutcome): void {
  const answer =
    'info' in outcome
      ? {
          ok: true,
          daemon: process.pid,
          pid: outcome.info.pid,
          python: `${outcome.info.implementation} ${outcome.info.version} (${outcome.info.executable})`,
        }
      : {
          ok: false,
          daemon: process.pid,
          code: outcome.error.code,
          message: outcome.error.message,
          incident: outcome.error.incident ?? null,
        };
  const status = 'info' in outcome ? '200 OK' : `${outcome.error.status} ${outcome.error.title}`;
  sink.start(status, [['Content-Type', 'application/json']]);
  sink.write(Buffer.from(JSON.stringify(answer)));
  sink.end();
}

class FastcgiSink implements ResponseSink {
  view: PageView = { owner: false };
  private _started = false;
  private readonly connection: FastcgiConnection;
  private readonly request: FastcgiRequest;
  private onActivity: ((delta: 1 | -1) => void) | undefined;

  constructor(connection: FastcgiConnection, request: FastcgiRequest, onActivity?: (delta: 1 | -1) => void) {
    this.connection = connection;
    this.request = request;
    this.onActivity = onActivity;
  }

  get started(): boolean {
    return this._started;
  }

  start(status: string, headers: ResponseHeaders): void {
    this._started = true;
    this.request.writeStdout(cgiResponseHead(status, headers));
  }

  write(chunk: Buffer): boolean {
    return this.request.writeStdout(chunk);
  }

  onDrain(callback: () => void): void {
    this.request.onDrain(callback);
  }

  end(): void {
    this.request.end(0);
    this.done();
  }

  fail(error: WsgikitError): void {
    if (this._started) {
      // The head is out: only a broken connection tells the web server (and so the client) that
      // the body is incomplete; an END_REQUEST would make it look whole.
      this.connection.destroy();
      this.done();
      return;
    }
    const { params } = this.request;
    const page = failurePage(error, this.view, params.HTTP_ACCEPT, params.REQUEST_METHOD);
    this._started = true;
    this.request.writeStdout(cgiResponseHead(page.statusLine, page.headers));
    if (page.body !== null) this.request.writeStdout(page.body);
    this.request.end(0);
    this.done();
  }

  onClose(callback: () => void): void {
    this.request.onAbort(() => {
      callback();
      this.done();
    });
  }

  private done(): void {
    const activity = this.onActivity;
    this.onActivity = undefined;
    activity?.(-1);
  }
}
