import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import { collectResponse, fastcgiRequest } from '../../src/fastcgi/client.js';
import { FastcgiConnection, type FastcgiConnectionOptions, type FastcgiRequest } from '../../src/fastcgi/connection.js';
import { decodePairs } from '../../src/fastcgi/pair-decoder.js';
import {
  ProtocolStatus,
  RecordType,
  Role,
  abortRequest,
  beginRequest,
  encodePairs,
  encodeRecord,
} from '../../src/fastcgi/protocol.js';
import { RecordParser } from '../../src/fastcgi/record-parser.js';

interface Parsed {
  type: number;
  requestId: number;
  content: Buffer;
}

interface Server {
  path: string;
  errors: Error[];
  connections: FastcgiConnection[];
  sockets: net.Socket[];
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type ServerOptions = Omit<FastcgiConnectionOptions, 'onError'> & {
  onSocket?: (socket: net.Socket) => void;
  allowHalfOpen?: boolean;
};

async function startServer(options: ServerOptions): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-fcgi-'));
  const path = join(dir, 'app.sock');
  const result: Server = { path, errors: [], connections: [], sockets: [] };
  const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    result.sockets.push(socket);
    options.onSocket?.(socket);
    result.connections.push(new FastcgiConnection(socket, { ...options, onError: (e) => result.errors.push(e) }));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(async () => {
    for (const socket of result.sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  return result;
}

/** A raw client: sends bytes, collects the records that come back. */
class RawClient {
  readonly socket: net.Socket;
  readonly records: Parsed[] = [];
  readonly closed: Promise<void>;
  private readonly parser = new RecordParser();
  private waiters: Array<() => void> = [];

  constructor(path: string) {
    this.socket = net.createConnection(path);
    this.socket.on('data', (chunk) => {
      this.parser.parse(chunk, (r) =>
        this.records.push({ type: r.type, requestId: r.requestId, content: Buffer.from(r.content) }),
      );
      this.wake();
    });
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      this.socket.on('close', () => {
        resolve();
        this.wake();
      }),
    );
    cleanups.push(() => void this.socket.destroy());
  }

  send(...buffers: Buffer[]): void {
    this.socket.write(Buffer.concat(buffers));
  }

  /** Wait until a record matches (or the socket closes: then fail). */
  async waitFor(type: number, requestId?: number): Promise<Parsed> {
    for (;;) {
      const found = this.records.find((r) => r.type === type && (requestId === undefined || r.requestId === requestId));
      if (found) return found;
      if (this.socket.destroyed) throw new Error(`closed before record type ${type}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

function requestRecords(id: number, params: Record<string, string>, body: Buffer | null, keepConn = false): Buffer {
  return Buffer.concat([
    beginRequest(id, Role.Responder, keepConn),
    encodeRecord(RecordType.Params, id, encodePairs(params)),
    encodeRecord(RecordType.Params, id),
    ...(body === null
      ? []
      : body.length === 0
        ? [encodeRecord(RecordType.Stdin, id)]
        : [encodeRecord(RecordType.Stdin, id, body), encodeRecord(RecordType.Stdin, id)]),
  ]);
}

function endOf(record: Parsed): { appStatus: number; protocolStatus: number } {
  return { appStatus: record.content.readUInt32BE(0), protocolStatus: record.content[4]! };
}

/** Read a whole stream. */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Answer every request with "Status: 200 OK" + a body echoing the method and the STDIN length. */
function echo(request: FastcgiRequest): void {
  void readAll(request.stdin).then((body) => {
    request.writeStdout(`Status: 200 OK\r\n\r\n${request.params.REQUEST_METHOD} ${body.length}`);
    request.end(0);
  });
}

/** Resolve once `read()` has stopped changing for a while: the writer is stalled by backpressure. */
async function stalled(read: () => number, done: () => boolean = () => false): Promise<number> {
  let last = -1;
  let same = 0;
  while (same < 6 && !done()) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

describe('management records', () => {
  it('answers GET_VALUES honestly, and only for the names it knows', async () => {
    const server = await startServer({ onRequest: echo, maxConns: 7, maxReqs: 3 });
    const client = new RawClient(server.path);
    client.send(
      encodeRecord(
        RecordType.GetValues,
        0,
        encodePairs({ FCGI_MAX_CONNS: '', FCGI_MAX_REQS: '', FCGI_MPXS_CONNS: '', FCGI_OTHER: '' }),
      ),
    );
    const result = await client.waitFor(RecordType.GetValuesResult, 0);
    expect({ ...decodePairs(result.content) }).toEqual({
      FCGI_MAX_CONNS: '7',
      FCGI_MAX_REQS: '3',
      FCGI_MPXS_CONNS: '0',
    });

    const mux = await startServer({ onRequest: echo, multiplex: true });
    const other = new RawClient(mux.path);
    other.send(encodeRecord(RecordType.GetValues, 0, encodePairs({ FCGI_MPXS_CONNS: '' })));
    expect({ ...decodePairs((await other.waitFor(RecordType.GetValuesResult, 0)).content) }).toEqual({
      FCGI_MPXS_CONNS: '1',
    });
  });

  it('answers an unknown record type with UNKNOWN_TYPE and keeps serving', async () => {
    const server = await startServer({ onRequest: echo });
    const client = new RawClient(server.path);
    client.send(encodeRecord(42, 0, Buffer.from('whatever')), encodeRecord(200, 1));
    await client.waitFor(RecordType.UnknownType);
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET' }, null));
    client.send(encodeRecord(RecordType.Stdin, 1));
    const end = await client.waitFor(RecordType.EndRequest, 1);
    expect(endOf(end)).toEqual({ appStatus: 0, protocolStatus: 0 });
    const unknown = client.records.filter((r) => r.type === RecordType.UnknownType);
    expect(unknown.map((r) => [r.requestId, r.content[0]])).toEqual([
      [0, 42],
      [0, 200],
    ]);
    expect(server.errors).toEqual([]);
  });
});

describe('requests', () => {
  it('answers a role it does not serve with UNKNOWN_ROLE and closes without keep-conn', async () => {
    let delivered = 0;
    const server = await startServer({ onRequest: () => delivered++ });
    const client = new RawClient(server.path);
    client.send(beginRequest(1, Role.Authorizer, false), encodeRecord(RecordType.Params, 1));
    const end = await client.waitFor(RecordType.EndRequest, 1);
    expect(endOf(end)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.UnknownRole });
    await client.closed;
    expect(delivered).toBe(0);
  });

  it('delivers params, streams STDIN, and sends STDOUT + END_REQUEST with the app status', async () => {
    const seen: FastcgiRequest[] = [];
    const server = await startServer({
      onRequest: (request) => {
        seen.push(request);
        void readAll(request.stdin).then((body) => {
          request.writeStderr('a warning\n');
          request.writeStdout(Buffer.from(`Content-Type: text/plain\r\n\r\n${body.toString()}`));
          request.end(3);
        });
      },
    });
    const response = fastcgiRequest(server.path, {
      params: { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5', HTTP_X: 'caf\u00e9' },
      stdin: Buffer.from('hello'),
    });
    const result = await collectResponse(response);
    expect(result).toMatchObject({ appStatus: 3, protocolStatus: 0 });
    expect(result.stdout.toString()).toBe('Content-Type: text/plain\r\n\r\nhello');
    expect(result.stderr.toString()).toBe('a warning\n');
    expect(seen[0]!.params).toMatchObject({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5', HTTP_X: 'caf\u00e9' });
    expect(seen[0]!.keepConn).toBe(false);
    expect(seen[0]!.stdinComplete).toBe(true);
  });

  it('keeps the connection open for two sequential keep-conn requests', async () => {
    const server = await startServer({ onRequest: echo });
    const socket = net.createConnection(server.path);
    cleanups.push(() => void socket.destroy());
    for (const [id, method] of [
      [1, 'GET'],
      [1, 'POST'],
    ] as const) {
      const result = await collectResponse(
        fastcgiRequest(socket, {
          params: { REQUEST_METHOD: method },
          stdin: Buffer.from('xyz'),
          keepConn: true,
          requestId: id,
        }),
      );
      expect(result.stdout.toString()).toBe(`Status: 200 OK\r\n\r\n${method} 3`);
    }
    expect(socket.destroyed).toBe(false);
    expect(server.connections).toHaveLength(1);
    expect(server.connections[0]!.activeRequests).toBe(0);
  });

  it('closes the connection after END_REQUEST without keep-conn', async () => {
    const server = await startServer({ onRequest: echo });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET' }, Buffer.alloc(0)));
    await client.waitFor(RecordType.EndRequest, 1);
    await client.closed; // the server closed it
    expect(client.records.map((r) => r.type)).toEqual([RecordType.Stdout, RecordType.Stdout, RecordType.EndRequest]);
  });

  it('answers a second request on a busy connection with CANT_MPX_CONN, and a duplicate BEGIN closes it', async () => {
    const pending: FastcgiRequest[] = [];
    const server = await startServer({ onRequest: (request) => pending.push(request) });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET' }, Buffer.alloc(0), true));
    client.send(requestRecords(2, { REQUEST_METHOD: 'GET' }, Buffer.alloc(0), true));
    const refused = await client.waitFor(RecordType.EndRequest, 2);
    expect(endOf(refused)).toEqual({ appStatus: 0, protocolStatus: ProtocolStatus.CantMpxConn });
    expect(pending.map((r) => r.id)).toEqual([1]);
    pending[0]!.writeStdout('Status: 204 No Content\r\n\r\n');
    pending[0]!.end(0);
    expect(endOf(await client.waitFor(RecordType.EndRequest, 1))).toEqual({ appStatus: 0, protocolStatus: 0 });

    // Now request 3 is active; a second BEGIN for it is a protocol error.
    client.send(beginRequest(3, Role.Responder, true), beginRequest(3, Role.Responder, true));
    await client.closed;
    expect(server.errors.map((e) => (e as WsgikitError).code)).toEqual(['WSGIKIT_PROTOCOL']);
  });

  it('serves interleaved requests when multiplexing, up to maxReqs (then OVERLOADED)', async () => {
    const server = await startServer({ onRequest: echo, multiplex: true, maxReqs: 2 });
    const client = new RawClient(server.path);
    client.send(
      beginRequest(1, Role.Responder, true),
      beginRequest(2, Role.Responder, true),
      beginRequest(3, Role.Responder, true),
      encodeRecord(RecordType.Params, 2, encodePairs({ REQUEST_METHOD: 'PUT' })),
      encodeRecord(RecordType.Params, 1, encodePairs({ REQUEST_METHOD: 'GET' })),
      encodeRecord(RecordType.Params, 1),
      encodeRecord(RecordType.Params, 2),
      encodeRecord(RecordType.Stdin, 2, Buffer.from('ab')),
      encodeRecord(RecordType.Stdin, 1),
      encodeRecord(RecordType.Stdin, 2),
    );
    expect(endOf(await client.waitFor(RecordType.EndRequest, 3)).protocolStatus).toBe(ProtocolStatus.Overloaded);
    await client.waitFor(RecordType.EndRequest, 1);
    await client.waitFor(RecordType.EndRequest, 2);
    const body = (id: number): string =>
      Buffer.concat(
        client.records.filter((r) => r.type === RecordType.Stdout && r.requestId === id).map((r) => r.content),
      ).toString();
    expect(body(1)).toBe('Status: 200 OK\r\n\r\nGET 0');
    expect(body(2)).toBe('Status: 200 OK\r\n\r\nPUT 2');
  });

  it('sends a small response (STDOUT, empty STDOUT, END_REQUEST) in one socket write', async () => {
    const writes: number[] = [];
    const server = await startServer({
      onSocket: (socket) => {
        const target = socket as unknown as {
          _write: (...args: unknown[]) => unknown;
          _writev: (...args: unknown[]) => unknown;
        };
        const write = target._write;
        const writev = target._writev;
        target._write = function (this: unknown, ...args: unknown[]) {
          writes.push(1);
          return write.apply(this, args);
        };
        target._writev = function (this: unknown, ...args: unknown[]) {
          writes.push((args[0] as unknown[]).length);
          return writev.apply(this, args);
        };
      },
      onRequest: (request) => {
        request.writeStdout('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello');
        request.end(0);
      },
    });
    const result = await collectResponse(fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'GET' } }));
    expect(result.stdout.toString()).toMatch(/hello$/);
    expect(writes).toHaveLength(1); // one writev holding header, body, padding and the tail
  });

  it('drops variables holding NUL and names them in droppedParams', async () => {
    const seen: FastcgiRequest[] = [];
    const server = await startServer({
      onRequest: (request) => {
        seen.push(request);
        request.end(0);
      },
    });
    await collectResponse(fastcgiRequest(server.path, { params: { PATH_INFO: '/a\0b', REQUEST_METHOD: 'GET' } }));
    expect({ ...seen[0]!.params }).toEqual({ REQUEST_METHOD: 'GET' });
    expect(seen[0]!.droppedParams).toEqual(['PATH_INFO']);
  });

  it('closes the connection with a protocol error when PARAMS pass the cap', async () => {
    const server = await startServer({ onRequest: echo, maxParamsBytes: 1000 });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { HTTP_COOKIE: 'c'.repeat(2000) }, null));
    await client.closed;
    expect(server.errors.map((e) => (e as WsgikitError).code)).toEqual(['WSGIKIT_PROTOCOL']);
  });
});

describe('half-close', () => {
  it('aborts the active request when the web server half-closes (default sockets)', async () => {
    const causes: string[] = [];
    const server = await startServer({ onRequest: (request) => request.onAbort((cause) => causes.push(cause)) });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET' }, Buffer.alloc(0), true));
    client.socket.end();
    await client.closed;
    while (causes.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(causes).toEqual(['connection-closed']);
  });

  it('answers, then closes, when the socket allows half-open', async () => {
    const server = await startServer({
      allowHalfOpen: true,
      onRequest: (request) =>
        setTimeout(() => {
          request.writeStdout('Status: 200 OK\r\n\r\nlate');
          request.end(0);
        }, 20),
    });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET' }, Buffer.alloc(0), true));
    client.socket.end();
    await client.closed;
    expect(endOf(await client.waitFor(RecordType.EndRequest, 1))).toEqual({ appStatus: 0, protocolStatus: 0 });
  });
});

describe('aborts', () => {
  it('fires the abort on ABORT_REQUEST mid-STDIN; the app answers END_REQUEST with its status', async () => {
    const aborted: string[] = [];
    let stdinClosedEarly = false;
    let delivered!: () => void;
    const wasDelivered = new Promise<void>((resolve) => (delivered = resolve));
    const server = await startServer({
      onRequest: (request) => {
        request.stdin.on('data', () => {});
        request.stdin.on('close', () => (stdinClosedEarly = !request.stdinComplete));
        request.signal.addEventListener('abort', () => aborted.push('signal'));
        request.onAbort((cause) => {
          aborted.push(cause);
          request.writeStdout('ignored after abort');
          request.end(5);
        });
        delivered();
      },
    });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'POST' }, null, true));
    await wasDelivered;
    client.send(encodeRecord(RecordType.Stdin, 1, Buffer.alloc(1000, 1)));
    client.send(abortRequest(1));
    const end = await client.waitFor(RecordType.EndRequest, 1);
    expect(endOf(end)).toEqual({ appStatus: 5, protocolStatus: 0 });
    expect(aborted.sort()).toEqual(['abort-record', 'signal']);
    expect(stdinClosedEarly).toBe(true);
    expect(client.records.filter((r) => r.type === RecordType.Stdout).map((r) => r.content.length)).toEqual([0]);
  });

  it('answers an ABORT that comes before the request was delivered itself', async () => {
    let delivered = 0;
    const server = await startServer({ onRequest: () => delivered++ });
    const client = new RawClient(server.path);
    client.send(beginRequest(1, Role.Responder, true), abortRequest(1));
    expect(endOf(await client.waitFor(RecordType.EndRequest, 1))).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(delivered).toBe(0);
  });

  it('delivers a request once the read that ended its PARAMS is parsed, not one aborted in it', async () => {
    const seen: Array<[string, boolean]> = [];
    const server = await startServer({
      onRequest: (request) => {
        seen.push([request.params.PATH_INFO!, request.stdinComplete]);
        request.end(0);
      },
    });
    const client = new RawClient(server.path);
    // One write: the GET's empty STDIN is already in when the request is handed on.
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET', PATH_INFO: '/get' }, Buffer.alloc(0), true));
    await client.waitFor(RecordType.EndRequest, 1);
    expect(seen).toEqual([['/get', true]]);
    // Complete PARAMS and an ABORT in one write: nothing ran, so appStatus 0, and no delivery.
    client.records.length = 0;
    client.send(requestRecords(1, { REQUEST_METHOD: 'POST', PATH_INFO: '/post' }, null, true), abortRequest(1));
    expect(endOf(await client.waitFor(RecordType.EndRequest, 1))).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(seen).toEqual([['/get', true]]);
    expect(server.errors).toEqual([]);
  });

  // Spec §5.4: the application answers ABORT_REQUEST with END_REQUEST as soon as possible, whatever
  // the request was doing; on a kept connection the id then serves the next request.
  it.each([
    ['before the app looked at it', 'idle'],
    ['while its answer streams', 'streaming'],
    ['while its body is being read', 'reading'],
  ])('answers an ABORT %s with END_REQUEST(appStatus 1) itself; the kept connection serves on', async (_, mode) => {
    const seen: FastcgiRequest[] = [];
    const server = await startServer({
      onRequest: (request) => {
        seen.push(request);
        if (request.params.PATH_INFO === '/next') return echo(request);
        if (mode === 'streaming') request.writeStdout('Status: 200 OK\r\n\r\npartial');
        if (mode === 'reading') request.stdin.on('data', () => {});
      },
    });
    const client = new RawClient(server.path);
    const body = mode === 'reading' ? null : Buffer.alloc(0);
    client.send(requestRecords(1, { REQUEST_METHOD: 'POST', PATH_INFO: '/first' }, body, true));
    if (mode === 'reading') client.send(encodeRecord(RecordType.Stdin, 1, Buffer.alloc(100, 1)));
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    client.send(abortRequest(1));
    expect(endOf(await client.waitFor(RecordType.EndRequest, 1))).toEqual({ appStatus: 1, protocolStatus: 0 });
    // The app's late writes and end() after the abort are harmless and send nothing.
    expect(seen[0]!.writeStdout('late')).toBe(true);
    seen[0]!.end(0);
    client.records.length = 0;
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET', PATH_INFO: '/next' }, Buffer.alloc(0), true));
    const end = await client.waitFor(RecordType.EndRequest, 1);
    expect(endOf(end)).toEqual({ appStatus: 0, protocolStatus: 0 });
    const out = Buffer.concat(client.records.filter((r) => r.type === RecordType.Stdout).map((r) => r.content));
    expect(out.toString()).toBe('Status: 200 OK\r\n\r\nGET 0');
    expect(server.errors).toEqual([]);
  });

  // The STDIN stream is made on first use: one asked for late must look as an eager one would.
  it('a STDIN stream first asked for after an abort is destroyed, not an empty whole body', async () => {
    let aborted!: (request: FastcgiRequest) => void;
    const gotAbort = new Promise<FastcgiRequest>((resolve) => (aborted = resolve));
    let delivered!: () => void;
    const wasDelivered = new Promise<void>((resolve) => (delivered = resolve));
    const server = await startServer({
      onRequest: (request) => {
        request.onAbort(() => aborted(request));
        delivered();
      },
    });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'POST' }, null));
    await wasDelivered;
    client.send(abortRequest(1));
    const request = await gotAbort;
    expect(request.stdin.destroyed).toBe(true);
    expect(request.stdinBuffered).toBe(0);
  });

  it('a STDIN stream first asked for after the empty STDIN record reads as an empty body', async () => {
    let seen!: FastcgiRequest;
    const server = await startServer({ onRequest: (request) => (seen = request) });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'GET' }, Buffer.alloc(0)));
    while (seen === undefined || !seen.stdinComplete) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await readAll(seen.stdin)).length).toBe(0);
    seen.end(0);
  });

  it('aborts active requests when the socket closes mid-request', async () => {
    let resolveAbort!: (cause: string) => void;
    const abortCause = new Promise<string>((resolve) => (resolveAbort = resolve));
    const requests: FastcgiRequest[] = [];
    const server = await startServer({
      onRequest: (request) => {
        requests.push(request);
        request.onAbort(resolveAbort);
      },
    });
    const client = new RawClient(server.path);
    client.send(requestRecords(1, { REQUEST_METHOD: 'POST' }, null));
    client.send(encodeRecord(RecordType.Stdin, 1, Buffer.alloc(10)));
    while (requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    client.socket.destroy();
    expect(await abortCause).toBe('connection-closed');
    // Writing to and ending an aborted request is harmless.
    expect(requests[0]!.writeStdout('late')).toBe(true);
    requests[0]!.end(0);
    expect(server.errors).toEqual([]);
  });
});

describe('backpressure', () => {
  it('keeps buffered STDIN bounded while the app does not read a 50 MB body, then delivers all of it', async () => {
    const total = 50 * 1024 * 1024;
    let request: FastcgiRequest | null = null;
    let serverSocket: net.Socket | null = null;
    const server = await startServer({
      onSocket: (socket) => (serverSocket = socket),
      onRequest: (r) => (request = r), // does not read yet
    });
    let produced = 0;
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7) & 0xff;
    const body = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const response = fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'POST' }, stdin: body });
    const result = collectResponse(response);

    let maxBuffered = 0;
    const buffered = (): number => {
      const now = (request?.stdin.readableLength ?? 0) + (serverSocket?.readableLength ?? 0);
      maxBuffered = Math.max(maxBuffered, now);
      return now;
    };
    await stalled(() => (buffered(), produced));
    expect(produced).toBeLessThan(total); // the client was held back
    expect(maxBuffered).toBeLessThan(4 * 1024 * 1024);

    // Now read it all (checking the bytes at sampled offsets); the connection resumes.
    const r = request! as FastcgiRequest;
    let received = 0;
    let wrong = 0;
    for await (const piece of r.stdin) {
      const bytes = piece as Buffer;
      for (let j = 0; j < bytes.length; j += 997) {
        if (bytes[j] !== ((((received + j) % chunk.length) * 7) & 0xff)) wrong++;
      }
      received += bytes.length;
      buffered();
    }
    expect(received).toBe(total);
    expect(wrong).toBe(0);
    expect(maxBuffered).toBeLessThan(4 * 1024 * 1024);
    r.writeStdout('Status: 200 OK\r\n\r\n');
    r.end(0);
    expect((await result).appStatus).toBe(0);
  });

  it('reports STDOUT backpressure while the client does not read, and resumes on drain', async () => {
    const total = 32 * 1024 * 1024;
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let written = 0;
    let falses = 0;
    let serverSocket: net.Socket | null = null;
    let maxQueued = 0;
    const server = await startServer({
      onSocket: (socket) => (serverSocket = socket),
      onRequest: (request) => {
        const pump = (): void => {
          while (written < total) {
            written += piece.length;
            const ok = request.writeStdout(piece);
            maxQueued = Math.max(maxQueued, serverSocket!.writableLength);
            if (!ok) {
              falses++;
              request.onDrain(pump);
              return;
            }
          }
          request.end(0);
        };
        pump();
      },
    });
    const response = fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'GET' } });
    const stuckAt = await stalled(() => written);
    expect(stuckAt).toBeLessThan(total);
    expect(falses).toBeGreaterThan(0);
    expect(maxQueued).toBeLessThan(4 * 1024 * 1024);

    let received = 0;
    response.on('data', (chunk: Buffer) => (received += chunk.length));
    await new Promise((resolve) => response.on('end', resolve));
    expect(received).toBe(total);
    expect(response.endRequest).toEqual({ appStatus: 0, protocolStatus: 0 });
    expect(maxQueued).toBeLessThan(4 * 1024 * 1024);
  });
});

describe('outgoing writes', () => {
  /** What the connection hands its socket, write by write. */
  function spyWrites(socket: net.Socket, writes: Buffer[]): void {
    const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
    socket.write = ((chunk: Buffer) => {
      writes.push(chunk);
      return write(chunk);
    }) as typeof socket.write;
  }

  it('sends a small answer (STDOUT, empty STDOUT, END_REQUEST) in one socket write', async () => {
    const writes: Buffer[] = [];
    const server = await startServer({
      onSocket: (socket) => spyWrites(socket, writes),
      onRequest: (request) => {
        request.writeStdout('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n');
        request.writeStdout(Buffer.from('Hello world\n'));
        request.end(0);
      },
    });
    const result = await collectResponse(fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'GET' } }));
    expect(result.stdout.toString()).toBe('Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nHello world\n');
    expect(result).toMatchObject({ appStatus: 0, protocolStatus: 0 });
    expect(writes).toHaveLength(1);
  });

  it("hands a large body to the socket as the app's own Buffer, not a copy", async () => {
    const writes: Buffer[] = [];
    const body = Buffer.alloc(60 * 1024, 0x63);
    const server = await startServer({
      onSocket: (socket) => spyWrites(socket, writes),
      onRequest: (request) => {
        request.writeStdout('Status: 200 OK\r\n\r\n');
        request.writeStdout(body);
        request.end(0);
      },
    });
    const result = await collectResponse(fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'GET' } }));
    expect(result.stdout.length).toBe('Status: 200 OK\r\n\r\n'.length + body.length);
    expect(result.stdout.subarray(-body.length).equals(body)).toBe(true);
    expect(writes.some((chunk) => chunk === body)).toBe(true);
  });
});

describe('drain waiters after the answer', () => {
  // The Job ends an answer once its Content-Length is delivered, possibly right after a write that
  // pushed back; the bridge then waits on onDrain to read the worker's last frames. Without
  // keep-conn (mod_fcgid, the CGI daemon's relay) the connection ends next, and a socket that is
  // ending never emits 'drain': a waiter left there kept the worker "busy" until the queue timed
  // out (bench: 503 after 30 s on the next request).
  it('calls a waiter registered before end(), when the connection ends instead of draining', async () => {
    const piece = Buffer.alloc(64 * 1024, 0x62);
    let drained = 0;
    const server = await startServer({
      onRequest: (request) => {
        request.writeStdout('Status: 200 OK\r\n\r\n');
        while (request.writeStdout(piece));
        request.onDrain(() => drained++);
        request.end(0);
      },
    });
    const result = await collectResponse(fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'GET' } }));
    expect(result).toMatchObject({ appStatus: 0, protocolStatus: 0 });
    expect(result.stdout.length).toBeGreaterThan(piece.length);
    await stalled(
      () => drained,
      () => drained > 0,
    );
    expect(drained).toBe(1);
  });

  it('calls a waiter registered once the connection is ending, as writes are dropped from then on', async () => {
    let late = 0;
    const server = await startServer({
      onRequest: (request) => {
        request.writeStdout('Status: 200 OK\r\n\r\nok');
        request.end(0);
        request.onDrain(() => late++);
      },
    });
    await collectResponse(fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'GET' } }));
    await stalled(
      () => late,
      () => late > 0,
    );
    expect(late).toBe(1);
  });
});

describe('isolation', () => {
  it('closes a connection that sends a malformed record while another keeps working', async () => {
    const server = await startServer({ onRequest: echo });
    const good = net.createConnection(server.path);
    cleanups.push(() => void good.destroy());
    const first = await collectResponse(
      fastcgiRequest(good, { params: { REQUEST_METHOD: 'GET' }, stdin: null, keepConn: true }),
    );
    expect(first.stdout.toString()).toMatch(/GET 0$/);

    const bad = new RawClient(server.path);
    const garbage = encodeRecord(RecordType.Stdin, 1, Buffer.from('x'));
    garbage[0] = 9; // version 9
    bad.send(garbage);
    await bad.closed;
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toBeInstanceOf(WsgikitError);
    expect((server.errors[0] as WsgikitError).code).toBe('WSGIKIT_PROTOCOL');

    const second = await collectResponse(
      fastcgiRequest(good, { params: { REQUEST_METHOD: 'POST' }, stdin: Buffer.from('abcd'), keepConn: true }),
    );
    expect(second.stdout.toString()).toMatch(/POST 4$/);
  });
});

describe('client', () => {
  it('reads a response whose records arrive one byte at a time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wsgikit-fcgi-'));
    const path = join(dir, 'slow.sock');
    const answer = Buffer.concat([
      encodeRecord(RecordType.Stderr, 1, Buffer.from('warn')),
      encodeRecord(RecordType.Stdout, 1, Buffer.from('Status: 200 OK\r\n\r\nbody')),
      encodeRecord(RecordType.Stdout, 1),
      encodeRecord(RecordType.EndRequest, 1, Buffer.from([0, 0, 0, 9, 0, 0, 0, 0])),
    ]);
    const server = net.createServer((socket) => {
      socket.once('data', async () => {
        for (const byte of answer) {
          socket.write(Buffer.from([byte]));
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    cleanups.push(async () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const result = await collectResponse(fastcgiRequest(path, { params: { A: 'b' } }));
    expect(result).toMatchObject({ appStatus: 9, protocolStatus: 0 });
    expect(result.stdout.toString()).toBe('Status: 200 OK\r\n\r\nbody');
    expect(result.stderr.toString()).toBe('warn');
  });

  it('fails with the socket error when nothing listens, and with WSGIKIT_PROTOCOL on an early close', async () => {
    await expect(collectResponse(fastcgiRequest('/nonexistent/wsgikit.sock', { params: {} }))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    const server = await startServer({ onRequest: (request) => request.stdin.resume() });
    const response = fastcgiRequest(server.path, { params: { REQUEST_METHOD: 'GET' } });
    while (server.connections.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    server.connections[0]!.destroy();
    await expect(collectResponse(response)).rejects.toMatchObject({ code: 'WSGIKIT_PROTOCOL' });
  });
});
