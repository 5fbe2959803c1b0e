// The bare relay: wsgikit's shape and nothing else, to measure wsgikit against. One Node process
// accepts FastCGI connections (nginx keeps them open), turns each request into one frame for a
// Python worker (bench/floor/worker.py) over a socketpair, and the worker's answer into
// FCGI_STDOUT records. No environ repair, no pool states, no error pages, logs or limits; a
// worker that dies ends the relay.
//
// Depth 1 sends a worker one request at a time: it waits on Node between requests. Depth 2 also
// writes a second request to a busy worker, so that the next one is there when it finishes.
//
// Usage (the bench bundles this file): node relay.mjs SOCKET WORKERS DEPTH PYTHON WORKER_PY MODULE_DIR MODULE
// SOCKET "-": the listening socket on fd 0 (a .fcgi that mod_fcgid starts).

import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';

const [socketPath, workerCount, depthArg, python, workerPy, moduleDir, moduleName] = process.argv.slice(2);
const DEPTH = Number(depthArg);

const BEGIN_REQUEST = 1;
const PARAMS = 4;
const STDIN = 5;
const STDOUT = 6;
const END_REQUEST = 3;

interface Request {
  conn: Socket;
  id: number;
  keep: boolean;
  params: Buffer[];
  paramsLength: number;
  body: Buffer[];
  bodyLength: number;
}

class Worker {
  readonly sent: Request[] = [];
  private readonly channel: Socket;
  private rest: Buffer | null = null;

  constructor() {
    const child = spawn(python!, [workerPy!, moduleDir!, moduleName!], {
      stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    });
    this.channel = child.stdio[3] as Socket;
    this.channel.on('data', (chunk: Buffer) => this.read(chunk));
    child.once('exit', (code, signal) => {
      process.stderr.write(`relay: worker exited (${code ?? signal})\n`);
      process.exit(1);
    });
  }

  send(request: Request): void {
    this.sent.push(request);
    this.channel.write(frame(request));
  }

  private read(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = null;
    let at = 0;
    while (buf.length - at >= 4) {
      const length = buf.readUInt32BE(at);
      if (buf.length - at - 4 < length) break;
      answer(this.sent.shift()!, buf.subarray(at + 4, at + 4 + length));
      at += 4 + length;
      const next = waiting.shift();
      if (next) this.send(next);
    }
    if (at < buf.length) this.rest = buf.subarray(at);
  }
}

const workers = Array.from({ length: Number(workerCount) }, () => new Worker());
const waiting: Request[] = [];

/** The request's FastCGI name-value pairs as "name\0value\0", then its body, behind the two lengths. */
function frame(request: Request): Buffer {
  const pairs = request.params.length === 1 ? request.params[0]! : Buffer.concat(request.params);
  // Each pair's two length bytes (at least) become its two NULs: the frame is never longer.
  const out = Buffer.allocUnsafe(8 + pairs.length + request.bodyLength);
  let at = 8;
  let i = 0;
  const length = () => {
    const first = pairs[i]!;
    if (first < 0x80) return ((i += 1), first);
    const n = pairs.readUInt32BE(i) & 0x7fffffff;
    i += 4;
    return n;
  };
  while (i < pairs.length) {
    const nameLength = length();
    const valueLength = length();
    at += pairs.copy(out, at, i, i + nameLength);
    out[at++] = 0;
    i += nameLength;
    at += pairs.copy(out, at, i, i + valueLength);
    out[at++] = 0;
    i += valueLength;
  }
  out.writeUInt32BE(at - 8, 4);
  for (const part of request.body) at += part.copy(out, at);
  out.writeUInt32BE(at - 4, 0);
  return out.subarray(0, at);
}

function header(buf: Buffer, at: number, type: number, id: number, length: number): void {
  buf[at] = 1;
  buf[at + 1] = type;
  buf.writeUInt16BE(id, at + 2);
  buf.writeUInt16BE(length, at + 4);
  buf[at + 6] = 0;
  buf[at + 7] = 0;
}

/** The worker's answer as FCGI_STDOUT records, the empty one and FCGI_END_REQUEST, in one write. */
function answer(request: Request, response: Buffer): void {
  if (request.conn.destroyed) return;
  const records = Math.ceil(response.length / 65535);
  const out = Buffer.alloc(records * 8 + response.length + 8 + 16);
  let at = 0;
  for (let from = 0; from < response.length; from += 65535) {
    const part = response.subarray(from, from + 65535);
    header(out, at, STDOUT, request.id, part.length);
    at += 8 + part.copy(out, at + 8);
  }
  header(out, at, STDOUT, request.id, 0);
  header(out, at + 8, END_REQUEST, request.id, 8);
  request.conn.write(out);
  if (!request.keep) request.conn.end();
}

function dispatch(request: Request): void {
  let best: Worker | null = null;
  for (const worker of workers) {
    if (worker.sent.length < (best?.sent.length ?? DEPTH)) best = worker;
    if (best?.sent.length === 0) break;
  }
  if (best) best.send(request);
  else waiting.push(request);
}

function serve(conn: Socket): void {
  let rest: Buffer | null = null;
  let request: Request | null = null;
  conn.on('error', () => conn.destroy());
  conn.on('data', (chunk: Buffer) => {
    const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
    rest = null;
    let at = 0;
    while (buf.length - at >= 8) {
      const length = buf.readUInt16BE(at + 4);
      const end = at + 8 + length + buf[at + 6]!;
      if (end > buf.length) break;
      const content = buf.subarray(at + 8, at + 8 + length);
      const type = buf[at + 1];
      if (type === BEGIN_REQUEST) {
        const id = buf.readUInt16BE(at + 2);
        request = { conn, id, keep: (content[2]! & 1) === 1, params: [], paramsLength: 0, body: [], bodyLength: 0 };
      } else if (type === PARAMS && length > 0) {
        request!.params.push(content);
        request!.paramsLength += length;
      } else if (type === STDIN && length > 0) {
        request!.body.push(content);
        request!.bodyLength += length;
      } else if (type === STDIN) {
        dispatch(request!);
        request = null;
      }
      at = end;
    }
    if (at < buf.length) rest = buf.subarray(at);
  });
}

const server = createServer(serve);
if (socketPath === '-') server.listen({ fd: 0 });
else {
  rmSync(socketPath!, { force: true });
  server.listen(socketPath, () => process.stderr.write('relay ready\n'));
}
process.once('SIGTERM', () => process.exit(0));
