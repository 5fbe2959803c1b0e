// The responder side of one FastCGI transport connection: turns records from the web server into
// FastcgiRequest objects and their answers back into records.
//
// - A request is delivered (onRequest) when its PARAMS stream has ended, once the whole read that
//   ended it is parsed: a GET's empty STDIN usually comes in the same read, and a request known to
//   have no body saves the bridge a round of frames. Its STDIN streams in after.
// - Buffered STDIN is bounded per connection: past `stdinHighWaterMark` bytes not yet read by the
//   requests' consumers, the socket is paused until they read. (With multiplexing this stalls every
//   request of the connection; web servers don't multiplex, so that is acceptable.)
// - Answers respect the socket's backpressure: writeStdout() returns false when the socket's buffer
//   is full; onDrain() says when to go on. The records written in one tick leave together when it
//   ends: a small response (STDOUT, empty STDOUT, END_REQUEST) as one Buffer in one write, more
//   than GATHER_MAX bytes as one writev of the pieces (a large body is not copied).
// - Anything malformed closes this connection only, and is reported to onError as WSGIKIT_PROTOCOL.
//   Nothing thrown while handling a record escapes the socket's read handler.
// - The web server half-closing aborts the active requests, unless the socket allows half-open
//   (net.createServer({ allowHalfOpen: true })): then they are answered and the connection closes.
// - maxConns is only reported (GET_VALUES); whoever accepts connections enforces it.
//
// What the web server may do and what it gets:
//   GET_VALUES (id 0)          → GET_VALUES_RESULT for the names we know (MPXS_CONNS "0" unless multiplex)
//   any type we do not handle  → UNKNOWN_TYPE (management or not; the spec only asks it for id 0)
//   BEGIN, role not allowed    → END_REQUEST UNKNOWN_ROLE
//   BEGIN while busy, no mux   → END_REQUEST CANT_MPX_CONN for that id
//   BEGIN over maxReqs (mux)   → END_REQUEST OVERLOADED
//   BEGIN for an active id     → protocol error (the connection closes)
//   records for unknown ids    → ignored (as the spec says)
//   ABORT before delivery      → END_REQUEST(appStatus 0) at once: nothing ran
//   ABORT after delivery       → the request's abort (its callbacks may end() it with their own
//                                 appStatus), then END_REQUEST(appStatus 1) if they did not: spec
//                                 §5.4 wants the answer as soon as possible, and an appStatus is the
//                                 exit status a CGI program would give (§6.2), not 0 for a cut-off
//                                 answer. The id is free again on a kept connection.
//   DATA (FILTER role)         → ignored: the FILTER data stream is not exposed

import { Buffer } from 'node:buffer';
import process from 'node:process';
import { Readable, type Duplex } from 'node:stream';
import { WsgikitError } from '../errors.js';
import { ActiveRequests } from './active-requests.js';
import { DEFAULT_MAX_PARAMS, DEFAULT_MAX_PARAMS_BYTES, PairDecoder, decodePairs } from './pair-decoder.js';
import {
  HEADER_SIZE,
  KEEP_CONN,
  MAX_CONNS,
  MAX_REQS,
  MPXS_CONNS,
  ProtocolStatus,
  RAW_PIECE,
  RecordType,
  Role,
  encodePairs,
  encodeRecord,
  endRequest,
  gatherPieces,
  streamPieces,
  unknownType,
  writablePieces,
  writeEndRequest,
  writeHeader,
} from './protocol.js';
import { RecordParser, type FastcgiRecord } from './record-parser.js';
import { bytesRead } from '../read-buffers.js';
import { receiveReads } from '../direct-reads.js';

export interface FastcgiConnectionOptions {
  /** Called once per request, when its PARAMS are complete. Must not throw (if it does: onError, end(1)). */
  onRequest(request: FastcgiRequest): void;
  /** Connection-level problems (malformed records, socket errors other than resets), for logging. */
  onError?(error: Error): void;
  /** Reported as FCGI_MAX_CONNS (the caller enforces it). Default 100. */
  maxConns?: number;
  /** Reported as FCGI_MAX_REQS; with multiplexing also the cap per connection (OVERLOADED). Default maxConns. */
  maxReqs?: number;
  /** Accept several requests at once on one connection. Default false (CANT_MPX_CONN). */
  multiplex?: boolean;
  /** Roles accepted. Default RESPONDER only. */
  roles?: ReadonlySet<number>;
  /** Cap on one request's PARAMS bytes (default 1 MiB) and pair count (default 1000). */
  maxParamsBytes?: number;
  maxParams?: number;
  /** Buffered, unread STDIN bytes across the connection's requests before the socket is paused. Default 1 MiB. */
  stdinHighWaterMark?: number;
}

interface Settings {
  onRequest: (request: FastcgiRequest) => void;
  onError: (error: Error) => void;
  maxConns: number;
  maxReqs: number;
  multiplex: boolean;
  roles: ReadonlySet<number>;
  limits: { maxBytes: number; maxPairs: number };
  stdinHighWaterMark: number;
}

const RESPONDER_ONLY: ReadonlySet<number> = new Set([Role.Responder]);
const NO_NAMES: readonly string[] = Object.freeze([]);
const NO_PARAMS: Record<string, string> = Object.freeze(Object.create(null) as Record<string, string>);
const ignore = (): void => {};
/**
 * Up to this many bytes, a tick's records are copied into one Buffer: one socket.write costs less
 * than the several a writev of the pieces takes. A larger body goes as views, not copied.
 */
const GATHER_MAX = 16 * 1024;
/** END_REQUEST's appStatus for a delivered request that ABORT_REQUEST cut off. */
export const ABORTED_APP_STATUS = 1;

function settingsOf(options: FastcgiConnectionOptions): Settings {
  const maxConns = options.maxConns ?? 100;
  return {
    onRequest: options.onRequest,
    onError: options.onError ?? ignore,
    maxConns,
    maxReqs: options.maxReqs ?? maxConns,
    multiplex: options.multiplex ?? false,
    roles: options.roles ?? RESPONDER_ONLY,
    limits: {
      maxBytes: options.maxParamsBytes ?? DEFAULT_MAX_PARAMS_BYTES,
      maxPairs: options.maxParams ?? DEFAULT_MAX_PARAMS,
    },
    stdinHighWaterMark: options.stdinHighWaterMark ?? 1024 * 1024,
  };
}

/** The STDIN of one request. Reading it is what lets a paused connection resume. */
class StdinStream extends Readable {
  constructor(private readonly connection: FastcgiConnection) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    // Readable calls _read before it takes the bytes being read out of the buffer, so the
    // buffered count is checked once that has happened.
    if (this.connection.pausedForStdin) process.nextTick(stdinWanted, this.connection);
  }
}

/** Why a request was aborted. */
export type AbortCause = 'abort-record' | 'connection-closed';

/** One request on a FastcgiConnection, from BEGIN_REQUEST to END_REQUEST. */
export class FastcgiRequest {
  readonly id: number;
  readonly role: number;
  /** The web server asked to keep the connection open after this request (FCGI_KEEP_CONN). */
  readonly keepConn: boolean;
  /** The PARAMS (CGI variables) as latin-1 byte strings; no prototype. Complete when onRequest fires. */
  params: Record<string, string> = NO_PARAMS;
  /** Names of PARAMS pairs dropped because the name or value held a NUL byte (usually empty). */
  droppedParams: readonly string[] = NO_NAMES;
  /** The PARAMS as NAME, VALUE, … in the order they came; a repeated name's last value is in `params`. */
  paramFields: readonly string[] = NO_NAMES;
  /** The empty STDIN record has arrived: `stdin` holds the whole body. */
  stdinComplete = false;
  /** Set by an ABORT_REQUEST record or the connection closing; see `abortCause`. */
  aborted = false;
  abortCause: AbortCause | null = null;
  /** end() was called. */
  ended = false;

  /** @internal */ decoder: PairDecoder | null;
  /** @internal Handed to onRequest. */ delivered = false;
  /** @internal */ wroteStderr = false;
  private readonly connection: FastcgiConnection;
  private abortCallbacks: Array<(cause: AbortCause) => void> | null = null;
  private controller: AbortController | null = null;
  // Made on first use: most requests (a GET's empty STDIN) never need a stream, and a Readable is
  // one of the costlier objects a request would otherwise allocate.
  private stdinStream: StdinStream | null = null;

  /** @internal */
  constructor(connection: FastcgiConnection, id: number, role: number, keepConn: boolean, decoder: PairDecoder) {
    this.connection = connection;
    this.id = id;
    this.role = role;
    this.keepConn = keepConn;
    this.decoder = decoder;
  }

  /** The STDIN stream (the request body), with backpressure toward the web server. */
  get stdin(): Readable {
    if (this.stdinStream === null) {
      const stream = (this.stdinStream = new StdinStream(this.connection));
      // As an eager stream would be by now: destroyed by an abort (or by end() before its STDIN
      // was complete), else ended when the empty STDIN record has come.
      if (this.aborted || (this.ended && !this.stdinComplete)) stream.destroy();
      else if (this.stdinComplete) stream.push(null);
    }
    return this.stdinStream;
  }

  /** @internal STDIN bytes received and not yet read. */
  get stdinBuffered(): number {
    return this.stdinStream === null ? 0 : this.stdinStream.readableLength;
  }

  /** An AbortSignal that fires with the request's abort (created on first use). */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortCause);
    }
    return this.controller.signal;
  }

  /** Call `callback` when the request is aborted (at once, on the next tick, if it already was). */
  onAbort(callback: (cause: AbortCause) => void): void {
    if (this.aborted) {
      process.nextTick(callback, this.abortCause!);
      return;
    }
    (this.abortCallbacks ??= []).push(callback);
  }

  /**
   * Send response bytes as STDOUT records (a string is taken as latin-1, one byte per character).
   * The chunk is framed without being copied, so don't change it afterwards. Returns false when the
   * socket's buffer is full: wait for onDrain. Empty chunks are skipped (an empty STDOUT record
   * would end the stream). After an abort the bytes are dropped and true is returned.
   */
  writeStdout(chunk: Buffer | string): boolean {
    if (this.aborted) return true;
    if (this.ended) throw new Error(`FastCGI request ${this.id}: writeStdout after end`);
    const body = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    if (body.length === 0) return true;
    return this.connection.writeStream(RecordType.Stdout, this.id, body);
  }

  /** Send an empty record of `type` (LAUNCHER_PROCEED: a private signal to the native launcher). */
  sendSignal(type: number): void {
    if (this.ended || this.aborted) return;
    this.connection.writeSignal(type, this.id);
  }

  /** Send text (UTF-8) or bytes to the web server's error log as STDERR records. */
  writeStderr(text: string | Buffer): boolean {
    if (this.aborted) return true;
    if (this.ended) throw new Error(`FastCGI request ${this.id}: writeStderr after end`);
    const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    if (body.length === 0) return true;
    this.wroteStderr = true;
    return this.connection.writeStream(RecordType.Stderr, this.id, body);
  }

  /**
   * Call `callback` once the socket has drained, or once the connection ends or closes: writes are
   * dropped from then on, so there is nothing left to wait for (and an ending socket never drains).
   */
  onDrain(callback: () => void): void {
    this.connection.onDrain(callback);
  }

  /**
   * Finish: empty STDERR (if any was written), empty STDOUT and END_REQUEST(appStatus,
   * REQUEST_COMPLETE), in one write; then, without keep-conn, close the connection once that is
   * flushed. Unread STDIN is discarded. A second call does nothing.
   */
  end(appStatus = 0): void {
    if (this.ended) return;
    this.ended = true;
    this.connection.finish(this, appStatus);
  }

  /** @internal The empty STDIN record came: a stream made before it ends here. */
  endStdin(): void {
    const stream = this.stdinStream;
    if (stream !== null && !stream.destroyed) stream.push(null);
  }

  /** @internal The request ended before its STDIN did: the rest is discarded. */
  dropStdin(): void {
    const stream = this.stdinStream;
    if (stream !== null && !stream.destroyed) stream.destroy();
  }

  /** @internal */
  abort(cause: AbortCause): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortCause = cause;
    const stream = this.stdinStream;
    if (stream !== null && !stream.destroyed) stream.destroy(); // no error: a reader sees a premature close
    this.controller?.abort(cause);
    const callbacks = this.abortCallbacks;
    this.abortCallbacks = null;
    if (callbacks !== null) for (const callback of callbacks) callback(cause);
  }
}

/** Serves FastCGI on one socket (any Duplex: a net.Socket, or a pair in tests). */
export class FastcgiConnection {
  readonly socket: Duplex;
  private readonly settings: Settings;
  private readonly parser = new RecordParser();
  private readonly requests = new ActiveRequests<FastcgiRequest>();
  private spareDecoder: PairDecoder | null = null;
  /** Requests whose PARAMS ended in the read being parsed, delivered once it is (deliver). */
  private readonly ready: FastcgiRequest[] = [];
  private delivering = false;
  private drainWaiters: Array<() => void> = [];
  /**
   * This tick's records, not yet given to the socket (flushOut), and their size: each piece is a
   * record's content with its head (streamPieces), or whole records (RAW_PIECE).
   */
  private out: Buffer[] = [];
  private outHeads: number[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private stdinPaused = false;
  /** A request without keep-conn has ended: close once no request is active. */
  private closeWhenIdle = false;
  /** socket.end() was called: nothing more is written or handled. */
  private ending = false;
  private closed = false;

  constructor(socket: Duplex, options: FastcgiConnectionOptions) {
    this.socket = socket;
    this.settings = settingsOf(options);
    if (!receiveReads(socket, this.onData)) socket.on('data', this.onData);
    socket.on('drain', this.onSocketDrain);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    socket.on('end', this.onSocketEnd);
  }

  /** @internal The socket is paused because too much STDIN is buffered. */
  get pausedForStdin(): boolean {
    return this.stdinPaused;
  }

  /** Requests begun and not yet ended. */
  get activeRequests(): number {
    return this.requests.size;
  }

  /** Close the connection now; active requests are aborted. */
  destroy(): void {
    this.shutDown();
    this.socket.destroy();
  }

  // ------------------------------------------------------------------------------------------
  // Incoming records
  // ------------------------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    if (this.ending || this.closed) return;
    bytesRead(chunk.length);
    try {
      this.parser.parse(chunk, this.onRecord);
    } catch (error) {
      this.ready.length = 0;
      this.fail(error);
      return;
    }
    if (this.ready.length !== 0 && !this.delivering) this.deliver();
  };

  /** Hands the read's complete requests on; one that an ABORT or a close cut off meanwhile is not. */
  private deliver(): void {
    this.delivering = true;
    const ready = this.ready;
    // By index: a handler may make an in-memory Duplex emit data again before it returns; that read's
    // requests join this list (the flag keeps the nested read from delivering them twice).
    for (let i = 0; i < ready.length; i++) {
      const request = ready[i]!;
      if (request.aborted) continue;
      request.delivered = true;
      try {
        this.settings.onRequest(request);
      } catch (error) {
        this.report(error);
        request.end(1);
      }
    }
    ready.length = 0;
    this.delivering = false;
  }

  private readonly onRecord = (record: FastcgiRecord): void => {
    if (this.ending || this.closed) return;
    if (record.requestId === 0) {
      this.management(record);
      return;
    }
    switch (record.type) {
      case RecordType.BeginRequest:
        this.begin(record);
        return;
      case RecordType.Params:
        this.params(record);
        return;
      case RecordType.Stdin:
        this.stdin(record);
        return;
      case RecordType.AbortRequest:
        this.abortRecord(record.requestId);
        return;
      case RecordType.Data:
        return;
      default:
        this.write(unknownType(record.type));
    }
  };

  private management(record: FastcgiRecord): void {
    if (record.type !== RecordType.GetValues) {
      this.write(unknownType(record.type));
      return;
    }
    const asked = decodePairs(record.content, this.settings.limits, { learn: false });
    const answer: Array<[string, string]> = [];
    for (const name in asked) {
      if (name === MAX_CONNS) answer.push([name, String(this.settings.maxConns)]);
      else if (name === MAX_REQS) answer.push([name, String(this.settings.maxReqs)]);
      else if (name === MPXS_CONNS) answer.push([name, this.settings.multiplex ? '1' : '0']);
    }
    this.write(encodeRecord(RecordType.GetValuesResult, 0, encodePairs(answer)));
  }

  private begin(record: FastcgiRecord): void {
    const id = record.requestId;
    const body = record.content;
    if (body.length < 8) {
      throw new WsgikitError(
        'WSGIKIT_PROTOCOL',
        `FastCGI BEGIN_REQUEST ${id} with ${body.length} content bytes (8 expected)`,
      );
    }
    if (this.requests.get(id) !== undefined) {
      throw new WsgikitError('WSGIKIT_PROTOCOL', `FastCGI BEGIN_REQUEST for request ${id}, which is already active`);
    }
    const role = (body[0]! << 8) | body[1]!;
    const keepConn = (body[2]! & KEEP_CONN) !== 0;
    const settings = this.settings;
    if (!settings.roles.has(role)) return this.reject(id, ProtocolStatus.UnknownRole, keepConn);
    if (this.requests.size !== 0) {
      if (!settings.multiplex) return this.reject(id, ProtocolStatus.CantMpxConn, keepConn);
      if (this.requests.size >= settings.maxReqs) return this.reject(id, ProtocolStatus.Overloaded, keepConn);
    }
    const decoder = this.spareDecoder ?? new PairDecoder(settings.limits);
    this.spareDecoder = null;
    this.requests.add(new FastcgiRequest(this, id, role, keepConn, decoder));
  }

  private reject(id: number, status: ProtocolStatus, keepConn: boolean): void {
    this.write(endRequest(id, 0, status));
    if (!keepConn) this.closeWhenIdle = true;
    if (this.closeWhenIdle && this.requests.size === 0) this.endSocket();
  }

  private params(record: FastcgiRecord): void {
    const request = this.requests.get(record.requestId);
    if (request === undefined) return;
    const decoder = request.decoder;
    if (decoder === null) {
      throw new WsgikitError('WSGIKIT_PROTOCOL', `FastCGI PARAMS for request ${request.id} after its PARAMS ended`);
    }
    if (record.content.length !== 0) {
      decoder.write(record.content);
      return;
    }
    request.params = decoder.end();
    request.droppedParams = decoder.dropped;
    request.paramFields = decoder.fields;
    request.decoder = null;
    decoder.reset();
    this.spareDecoder ??= decoder;
    this.ready.push(request);
  }

  private stdin(record: FastcgiRecord): void {
    const request = this.requests.get(record.requestId);
    if (request === undefined) return;
    if (request.stdinComplete) {
      throw new WsgikitError('WSGIKIT_PROTOCOL', `FastCGI STDIN for request ${request.id} after its STDIN ended`);
    }
    if (record.content.length === 0) {
      request.stdinComplete = true;
      request.endStdin();
      return;
    }
    const stream = request.stdin;
    if (stream.destroyed) return;
    // A view of the socket's chunk may be kept; the parser's own buffer is reused, so copy from it.
    stream.push(record.inChunk ? record.content : Buffer.from(record.content));
    if (!this.stdinPaused && this.bufferedStdin() > this.settings.stdinHighWaterMark) {
      this.stdinPaused = true;
      this.socket.pause();
    }
  }

  private abortRecord(id: number): void {
    const request = this.requests.get(id);
    if (request === undefined) return;
    const delivered = request.delivered;
    request.abort('abort-record');
    request.end(delivered ? ABORTED_APP_STATUS : 0);
  }

  // ------------------------------------------------------------------------------------------
  // STDIN backpressure
  // ------------------------------------------------------------------------------------------

  private bufferedStdin(): number {
    return this.requests.sum(stdinBuffered);
  }

  /** @internal A STDIN consumer wants more. */
  stdinWanted(): void {
    if (this.stdinPaused && !this.closed && this.bufferedStdin() <= this.settings.stdinHighWaterMark) {
      this.stdinPaused = false;
      this.socket.resume();
    }
  }

  // ------------------------------------------------------------------------------------------
  // Outgoing records
  // ------------------------------------------------------------------------------------------

  private write(data: Buffer): boolean {
    if (this.ending || this.closed || this.socket.destroyed) return true;
    this.out.push(data);
    this.outHeads.push(RAW_PIECE);
    this.outBytes += data.length;
    return this.afterQueue();
  }

  /** @internal */
  writeSignal(type: number, id: number): void {
    this.write(encodeRecord(type, id));
  }

  /** @internal Frame `body` as `type` records for request `id`, without copying it. */
  writeStream(type: number, id: number, body: Buffer): boolean {
    if (this.ending || this.closed || this.socket.destroyed) return true;
    this.outBytes += streamPieces(type, id, body, this.out, this.outHeads);
    return this.afterQueue();
  }

  /**
   * Schedule the flush at the end of the tick; flush now when the socket's buffer plus this
   * tick's records reach its high-water mark. Then the answer is the socket's own: false only
   * once the socket owes a 'drain', which onDrain waits for.
   */
  private afterQueue(): boolean {
    if (this.socket.writableLength + this.outBytes >= this.socket.writableHighWaterMark) return this.flushOut();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushOut, this);
    }
    return true;
  }

  /** @internal Give this tick's records to the socket: one Buffer, or one writev past GATHER_MAX. */
  flushOut(): boolean {
    this.flushScheduled = false;
    const out = this.out;
    const heads = this.outHeads;
    const size = this.outBytes;
    if (out.length === 0) return true;
    this.out = [];
    this.outHeads = [];
    this.outBytes = 0;
    if (this.closed || this.socket.destroyed) return true;
    if (out.length === 1 && heads[0] === RAW_PIECE) return this.socket.write(out[0]);
    if (size <= GATHER_MAX) return this.socket.write(gatherPieces(out, heads, size));
    this.socket.cork();
    let ok = true;
    for (const piece of writablePieces(out, heads)) ok = this.socket.write(piece);
    this.socket.uncork();
    return ok;
  }

  /** @internal */
  onDrain(callback: () => void): void {
    if (this.closed || this.ending || !this.socket.writableNeedDrain) process.nextTick(callback);
    else this.drainWaiters.push(callback);
  }

  private readonly onSocketDrain = (): void => {
    const waiters = this.drainWaiters;
    if (waiters.length === 0) return;
    this.drainWaiters = [];
    for (const callback of waiters) callback();
  };

  /**
   * The socket is ending or gone, so 'drain' will not come. A waiter may belong to a request that
   * has already finished (its answer complete, a worker still sending its last frames), which gets
   * no abort: let it go on, or that worker is never freed.
   */
  private releaseDrainWaiters(): void {
    if (this.drainWaiters.length > 0) process.nextTick(this.onSocketDrain);
  }

  /** @internal The app called request.end(appStatus). */
  finish(request: FastcgiRequest, appStatus: number): void {
    if (!this.requests.remove(request)) return; // the connection closed under it
    if (!request.stdinComplete) request.dropStdin();
    if (!this.ending && !this.closed) {
      const size = (request.wroteStderr ? HEADER_SIZE : 0) + HEADER_SIZE + HEADER_SIZE + 8;
      const tail = Buffer.allocUnsafe(size);
      let at = 0;
      if (request.wroteStderr) {
        writeHeader(tail, 0, RecordType.Stderr, request.id, 0, 0);
        at = HEADER_SIZE;
      }
      writeHeader(tail, at, RecordType.Stdout, request.id, 0, 0);
      writeEndRequest(tail, at + HEADER_SIZE, request.id, appStatus, ProtocolStatus.RequestComplete);
      this.write(tail);
    }
    if (!request.keepConn) this.closeWhenIdle = true;
    if (this.closeWhenIdle && this.requests.size === 0) this.endSocket();
    else this.stdinWanted(); // its unread STDIN no longer counts
  }

  private endSocket(): void {
    if (this.ending || this.closed) return;
    this.flushOut();
    this.ending = true;
    // end() flushes what is queued, then closes. Keep reading (and discarding) so a
    // web server still sending STDIN is not blocked before it sees the close.
    if (this.stdinPaused) {
      this.stdinPaused = false;
      this.socket.resume();
    }
    this.socket.end();
    this.releaseDrainWaiters();
  }

  // ------------------------------------------------------------------------------------------
  // Failure and close
  // ------------------------------------------------------------------------------------------

  private fail(error: unknown): void {
    this.report(error);
    this.destroy();
  }

  private report(error: unknown): void {
    try {
      this.settings.onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // a logger that throws must not take the connection's handling down with it
    }
  }

  private readonly onSocketError = (error: NodeJS.ErrnoException): void => {
    if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') this.report(error);
  };

  /** The web server half-closed. Unless the socket allows half-open, no answer can reach it now. */
  private readonly onSocketEnd = (): void => {
    if (!this.socket.allowHalfOpen) {
      this.shutDown();
      return;
    }
    // Half-open allowed: finish the active requests, then close.
    this.closeWhenIdle = true;
    if (this.requests.size === 0) this.endSocket();
  };

  private readonly onSocketClose = (): void => {
    this.shutDown();
  };

  private shutDown(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseDrainWaiters();
    for (const request of this.requests.clear()) {
      try {
        request.abort('connection-closed');
      } catch (error) {
        this.report(error); // an abort callback threw; this runs in a 'close' handler, so keep going
      }
    }
  }
}

function stdinBuffered(request: FastcgiRequest): number {
  return request.stdinBuffered;
}

function stdinWanted(connection: FastcgiConnection): void {
  connection.stdinWanted();
}

function flushOut(connection: FastcgiConnection): void {
  connection.flushOut();
}
