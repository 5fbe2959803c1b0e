// A small FastCGI client (the web server's side): sends one request and streams the answer back.
// The CGI front end uses it to relay a request to the user's daemon; tests use it too.
//
//   const response = fastcgiRequest('/run/app.sock', { params, stdin: process.stdin });
//   response.on('stderr', (chunk) => …);          // STDERR records, as they come
//   response.pipe(process.stdout);                // STDOUT, with backpressure to the socket
//   response.on('endRequest', ({ appStatus, protocolStatus }) => …);
//
// The response is a Readable of the STDOUT bytes; it ends after END_REQUEST. It is destroyed with
// the socket's own error if it cannot connect (ENOENT, ECONNREFUSED: no daemon there), or with
// WSGIKIT_PROTOCOL if the connection fails or closes before END_REQUEST or sends a malformed record.

import { Buffer } from 'node:buffer';
import { Socket, createConnection } from 'node:net';
import { Readable } from 'node:stream';
import { WsgikitError } from '../errors.js';
import {
  ProtocolStatus,
  RecordType,
  Role,
  beginRequest,
  encodePairs,
  encodeRecord,
  encodedSize,
  encodeRecordInto,
  streamPieces,
  writablePieces,
  type Pairs,
} from './protocol.js';
import { RecordParser, type FastcgiRecord } from './record-parser.js';

export interface FastcgiClientOptions {
  /** The CGI variables to send as PARAMS (latin-1 byte strings). */
  params: Pairs;
  /** The request body: a stream (sent with backpressure), a Buffer, or null for none. */
  stdin?: Readable | Buffer | null;
  /** Ask the server to keep the connection open (meaningful only on a socket you pass in). Default false. */
  keepConn?: boolean;
  /** Default 1. */
  requestId?: number;
  /** Default RESPONDER. */
  role?: number;
}

export interface FastcgiEnd {
  appStatus: number;
  protocolStatus: number;
}

/** Where to connect: a Unix socket path, `{ host, port }`, or a connected socket (kept open with keepConn). */
export type FastcgiTarget = string | { host: string; port: number } | Socket;

/** The STDOUT stream of one request; also emits 'stderr' (Buffer) and 'endRequest' (FastcgiEnd). */
export class FastcgiResponse extends Readable {
  /** Set when END_REQUEST has arrived. */
  endRequest: FastcgiEnd | null = null;
  readonly socket: Socket;
  private readonly ownSocket: boolean;
  private readonly requestId: number;
  private readonly keepConn: boolean;
  private readonly parser = new RecordParser();
  private paused = false;
  /** The socket has connected: a later failure means the server went away mid-request. */
  private connected: boolean;
  private source: Readable | null = null;

  /** @internal */
  constructor(socket: Socket, ownSocket: boolean, requestId: number, keepConn: boolean) {
    super();
    this.socket = socket;
    this.ownSocket = ownSocket;
    this.requestId = requestId;
    this.keepConn = keepConn;
    socket.on('data', this.onData);
    this.connected = !socket.connecting;
    if (!this.connected) socket.once('connect', () => (this.connected = true));
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.source?.destroy();
    // Cut off before END_REQUEST: the connection's state is unknown, so it is not reused.
    if (this.endRequest === null) this.socket.destroy();
    this.detach();
    callback(error);
  }

  /** @internal Send the request body from a stream, with backpressure. */
  sendStream(source: Readable): void {
    this.source = source;
    source.on('data', (chunk: Buffer | string) => {
      const body = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      if (body.length === 0 || this.socket.destroyed) return;
      const pieces: Buffer[] = [];
      const heads: number[] = [];
      streamPieces(RecordType.Stdin, this.requestId, body, pieces, heads);
      this.socket.cork();
      let ok = true;
      for (const piece of writablePieces(pieces, heads)) ok = this.socket.write(piece);
      this.socket.uncork();
      if (!ok) source.pause();
    });
    source.once('end', () => {
      this.source = null;
      if (!this.socket.destroyed) this.socket.write(encodeRecord(RecordType.Stdin, this.requestId));
    });
    source.once('error', (error) => this.destroy(error));
  }

  private readonly onDrain = (): void => {
    if (this.source !== null && this.source.isPaused()) this.source.resume();
  };

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.parser.parse(chunk, this.onRecord);
    } catch (error) {
      this.destroy(error as Error);
    }
  };

  private readonly onRecord = (record: FastcgiRecord): void => {
    if (record.requestId !== this.requestId || this.destroyed || this.endRequest !== null) return;
    switch (record.type) {
      case RecordType.Stdout:
        if (record.content.length === 0) return;
        if (!this.push(record.inChunk ? record.content : Buffer.from(record.content)) && !this.paused) {
          this.paused = true;
          this.socket.pause();
        }
        return;
      case RecordType.Stderr:
        if (record.content.length !== 0) this.emit('stderr', Buffer.from(record.content));
        return;
      case RecordType.EndRequest: {
        const body = record.content;
        if (body.length < 8) {
          throw new WsgikitError('WSGIKIT_PROTOCOL', `FastCGI END_REQUEST with ${body.length} content bytes`);
        }
        this.endRequest = { appStatus: body.readUInt32BE(0), protocolStatus: body[4]! };
        this.source?.destroy();
        this.source = null;
        this.detach();
        if (this.ownSocket || !this.keepConn) this.socket.end();
        if (this.paused) this.socket.resume();
        this.emit('endRequest', this.endRequest);
        this.push(null);
      }
    }
  };

  private readonly onError = (error: Error): void => {
    if (this.endRequest !== null) return;
    // Not connected: the socket's own error (ENOENT, ECONNREFUSED: no daemon there). Connected:
    // the server went away mid-request (ECONNRESET, EPIPE, …), reported as a protocol failure.
    this.destroy(
      this.connected
        ? new WsgikitError('WSGIKIT_PROTOCOL', `the FastCGI connection failed before END_REQUEST: ${error.message}`, {
            cause: error,
          })
        : error,
    );
  };

  private readonly onClose = (): void => {
    if (this.endRequest === null && !this.destroyed) {
      this.destroy(new WsgikitError('WSGIKIT_PROTOCOL', 'the FastCGI connection closed before END_REQUEST'));
    }
  };

  private detach(): void {
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
    socket.off('drain', this.onDrain);
    if (this.ownSocket || !this.keepConn) return; // keep an error listener on a socket we close
    socket.off('error', this.onError);
  }
}

/** Send one request (BEGIN, PARAMS, STDIN) and return its response stream. */
export function fastcgiRequest(target: FastcgiTarget, options: FastcgiClientOptions): FastcgiResponse {
  const requestId = options.requestId ?? 1;
  const keepConn = options.keepConn ?? false;
  const ownSocket = !(target instanceof Socket);
  const socket =
    target instanceof Socket
      ? target
      : typeof target === 'string'
        ? createConnection(target)
        : createConnection(target.port, target.host);
  const response = new FastcgiResponse(socket, ownSocket, requestId, keepConn);

  const begin = beginRequest(requestId, options.role ?? Role.Responder, keepConn);
  const params = encodePairs(options.params);
  const stdin = options.stdin ?? null;
  const body = Buffer.isBuffer(stdin) ? stdin : null;
  const size =
    begin.length +
    encodedSize(params.length) +
    (params.length === 0 ? 0 : encodedSize(0)) +
    (stdin instanceof Readable
      ? 0
      : (body === null || body.length === 0 ? 0 : encodedSize(body.length)) + encodedSize(0));
  const head = Buffer.allocUnsafe(size);
  begin.copy(head, 0);
  let at = encodeRecordInto(head, begin.length, RecordType.Params, requestId, params);
  if (params.length !== 0) at = encodeRecordInto(head, at, RecordType.Params, requestId, Buffer.alloc(0));
  if (!(stdin instanceof Readable)) {
    if (body !== null && body.length !== 0) at = encodeRecordInto(head, at, RecordType.Stdin, requestId, body);
    encodeRecordInto(head, at, RecordType.Stdin, requestId, Buffer.alloc(0));
  }
  socket.write(head);
  if (stdin instanceof Readable) response.sendStream(stdin);
  return response;
}

export interface FastcgiResult extends FastcgiEnd {
  stdout: Buffer;
  stderr: Buffer;
}

/** Read a whole response into memory (tests, small answers). */
export function collectResponse(response: FastcgiResponse): Promise<FastcgiResult> {
  return new Promise((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    response.on('stderr', (chunk: Buffer) => stderr.push(chunk));
    response.on('data', (chunk: Buffer) => stdout.push(chunk));
    response.once('error', reject);
    response.once('end', () => {
      const end = response.endRequest ?? { appStatus: 0, protocolStatus: ProtocolStatus.RequestComplete };
      resolve({ ...end, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) });
    });
  });
}
