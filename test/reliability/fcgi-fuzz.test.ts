// Bad FastCGI input against the real wsgi-fcgi process (the codec's own fuzz in
// test/unit/fastcgi-codec.test.ts drives the parser in-process): random bytes, truncated requests,
// huge declared lengths, PARAMS with lying lengths, unknown record types, wrong versions, from a
// fixed seed. Each input on its own connection; between batches a valid request must be served,
// and at the end the same process is still there, its memory bounded.

import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePairs, encodeRecord, beginRequest, RecordType, Role } from '../../src/fastcgi/protocol.js';
import { appFolder, type AppFolder } from '../helpers/wsgi-run.js';
import { startWsgiFcgi, type WsgiFcgi } from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';
import { fcgi, fcgiParams, rssKb, sleep } from './lib.js';
import { mulberry32 } from '../helpers/mulberry32.js';

const APP = `
import os
def application(environ, start_response):
    body = environ['wsgi.input'].read()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('ok %d %d' % (len(body), os.getpid())).encode()]
`;

const SEED = 0x5eed2026;
const INPUTS = 400;
const BATCH = 20;

function header(type: number, id: number, length: number, padding = 0, version = 1): Buffer {
  const b = Buffer.alloc(8);
  b[0] = version;
  b[1] = type;
  b.writeUInt16BE(id & 0xffff, 2);
  b.writeUInt16BE(length & 0xffff, 4);
  b[6] = padding & 0xff;
  return b;
}

/** One bad input of kind `kind`, built from the PRNG. */
function badInput(kind: number, rand: () => number, valid: Buffer): Buffer {
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  switch (kind) {
    case 0: // random bytes
      return bytes(1 + int(300));
    case 1: // a valid request cut at a random point
      return valid.subarray(0, int(valid.length));
    case 2: // a record that declares far more content than comes
      return Buffer.concat([
        beginRequest(1, Role.Responder, false),
        header(RecordType.Params, 1, 65535, 255),
        bytes(int(100)),
      ]);
    case 3: {
      // PARAMS whose name/value lengths lie: 4-byte lengths up to 2^31-1, or past the record
      const lie = Buffer.alloc(8);
      lie.writeUInt32BE((0x80000000 | int(0x7fffffff)) >>> 0, 0);
      lie.writeUInt32BE((0x80000000 | int(0x7fffffff)) >>> 0, 4);
      const shortLie = Buffer.from([0x7f, 0x7f, 0x41, 0x42]);
      const body = rand() < 0.5 ? lie : shortLie;
      return Buffer.concat([
        beginRequest(1, Role.Responder, false),
        encodeRecord(RecordType.Params, 1, body),
        encodeRecord(RecordType.Params, 1),
        encodeRecord(RecordType.Stdin, 1),
      ]);
    }
    case 4: // unknown record types, management (id 0) and on a request
      return Buffer.concat([
        encodeRecord(12 + int(244), rand() < 0.5 ? 0 : 1, bytes(int(40))),
        ...(rand() < 0.5 ? [valid] : []),
      ]);
    case 5: // a version other than 1
      return Buffer.concat([header(RecordType.BeginRequest, 1, 8, 0, 2 + int(250)), bytes(8)]);
    case 6: // records for a request that never began, and a duplicate BEGIN
      return Buffer.concat([
        encodeRecord(RecordType.Stdin, 7, bytes(int(50))),
        beginRequest(1, Role.Responder, true),
        beginRequest(1, Role.Responder, true),
      ]);
    case 7: // a role we do not serve, then garbage
      return Buffer.concat([beginRequest(1, 2 + int(3), false), bytes(int(64))]);
    default: {
      // a valid request with random bytes flipped
      const copy = Buffer.from(valid);
      for (let i = 0; i < 1 + int(4); i++) copy[int(copy.length)] = int(256);
      return copy;
    }
  }
}

/** Writes `input` on a fresh connection, then waits for the server to close it or 150 ms. */
function send(socketPath: string, input: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, 150);
    socket.on('error', done);
    socket.on('close', done);
    socket.on('data', () => {});
    socket.write(input);
  });
}

describe('wsgi-fcgi under fuzzed FastCGI input (fixed seed)', () => {
  let folder: AppFolder;
  let server: WsgiFcgi;
  let socket: string;
  beforeAll(async () => {
    folder = appFolder(APP, { processes: 1 });
    socket = join(folder.dir, 'fuzz.sock');
    server = await startWsgiFcgi(socket, ['--app', folder.app]);
  });
  afterAll(() => server?.stop());
  dumpLogsOnFailure(() => [['wsgi-fcgi', server?.output() ?? '']]);

  it(`keeps serving through ${INPUTS} bad inputs`, async () => {
    const rand = mulberry32(SEED);
    const params = fcgiParams(folder.app, '/', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3' });
    const valid = Buffer.concat([
      beginRequest(1, Role.Responder, false),
      encodeRecord(RecordType.Params, 1, encodePairs(params)),
      encodeRecord(RecordType.Params, 1),
      encodeRecord(RecordType.Stdin, 1, Buffer.from('abc')),
      encodeRecord(RecordType.Stdin, 1),
    ]);
    const first = await fcgi(socket, params, Buffer.from('abc'));
    expect(first.body.toString()).toMatch(/^ok 3 \d+$/);
    const rssBefore = rssKb(server.pid);
    const kinds = new Map<number, number>();
    let tried = 0;
    for (let batch = 0; batch < INPUTS / BATCH; batch++) {
      const inputs = Array.from({ length: BATCH }, () => {
        const kind = Math.floor(rand() * 9);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        return badInput(kind, rand, valid);
      });
      await Promise.all(inputs.map((input) => send(socket, input)));
      tried += inputs.length;
      const check = await fcgi(socket, params, Buffer.from('abc'));
      expect(check.how, `after batch ${batch}`).toBe('ok');
      expect(check.body.toString()).toMatch(/^ok 3 \d+$/);
    }
    await sleep(200);
    // Every kind was tried; the process is the same one, answering, its memory bounded.
    expect([...kinds.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(rssKb(server.pid)).toBeGreaterThan(0);
    expect(rssKb(server.pid) - rssBefore).toBeLessThan(40 * 1024);
    expect(server.output()).not.toMatch(/uncaught|unhandled|TypeError|RangeError/i);
    console.log(`[reliability] fcgi-fuzz: inputs tried ${tried} (seed ${SEED.toString(16)})`);
  });
});
