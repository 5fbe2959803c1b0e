// The HTTP front end (wsgi-run): translates node:http requests into AppRequests for the pool.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isWsgikitError, WsgikitError } from '../errors.js';
import type { AppRequest, ResponseSink } from '../exchange.js';
import { declaredBodyLength } from '../environ/content-length.js';
import { environFromHttp } from '../environ/http.js';
import type { PageView } from '../pages/error-page.js';
import { answerStatusRoute } from '../status/status-route.js';
import type { Pool } from '../pool/pool.js';
import { HttpSink } from './http-sink.js';

export interface HttpFrontEndOptions {
  handle(request: AppRequest, sink: ResponseSink): void;
  mount: string;
  serverSoftware: string;
  /** Who sees tracebacks; wsgi-run: everyone (it serves the developer). */
  isOwner(req: IncomingMessage): boolean;
  view: Omit<PageView, 'owner'>;
  /** Shown on the owner's status page (SCRIPT_NAME/.wsgikit/status); absent: no status URLs. */
  status?: { pool: Pool; ownerTokenSha256: string | null; setupNotes?: readonly string[] };
  /** Called once per request when its answer is complete or cut off. */
  onDone?(req: IncomingMessage, status: number, ms: number): void;
}

export function createHttpFrontEnd(options: HttpFrontEndOptions): Server {
  const server = createServer((req, res) => serve(options, req, res));
  // A keep-alive connection idle this long is closed; servers in front do the same.
  server.keepAliveTimeout = 5000;
  return server;
}

function serve(options: HttpFrontEndOptions, req: IncomingMessage, res: ServerResponse): void {
  const began = Date.now();
  const owner = options.isOwner(req);
  const sink = new HttpSink(req, res, { ...options.view, owner });
  if (options.onDone) {
    const done = options.onDone;
    res.once('close', () => done(req, sink.status || res.statusCode, Date.now() - began));
  }
  let request: AppRequest;
  try {
    const environ = environFromHttp(req, {
      mount: options.mount,
      serverSoftware: options.serverSoftware,
      https: false,
    });
    request = { environ, owner, ...requestBody(req) };
  } catch (error) {
    req.resume();
    sink.fail(isWsgikitError(error) ? error : new WsgikitError('WSGIKIT_BAD_REQUEST', String(error)));
    return;
  }
  const status = options.status;
  if (status && answerStatusRoute(request, status.pool, status.ownerTokenSha256, sink, status.setupNotes)) return;
  options.handle(request, sink);
}

function requestBody(req: IncomingMessage): Pick<AppRequest, 'body' | 'contentLength'> {
  // node:http has already answered 400 to a malformed Content-Length; this is the same rule as the
  // CGI and FastCGI front ends', for whatever it lets through.
  const length = declaredBodyLength(req.headers['content-length']);
  if (length !== null) return length > 0 ? { body: req, contentLength: length } : { body: null, contentLength: 0 };
  if (req.headers['transfer-encoding'] !== undefined) return { body: req, contentLength: null };
  return { body: null, contentLength: null };
}
