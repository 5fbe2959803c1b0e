import { Duplex } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import { FastcgiConnection, type FastcgiRequest } from '../../src/fastcgi/connection.js';
import { PairDecoder, decodePairs } from '../../src/fastcgi/pair-decoder.js';
import {
  HEADER_SIZE,
  MAX_CONTENT,
  ProtocolStatus,
  RAW_PIECE,
  RecordType,
  Role,
  abortRequest,
  beginRequest,
  encodePairs,
  encodeRecord,
  endRequest,
  gatherPieces,
  paddingFor,
  recordHeader,
  streamPieces,
  unknownType,
  writablePieces,
  writeHeader,
} from '../../src/fastcgi/protocol.js';
import { RecordParser } from '../../src/fastcgi/record-parser.js';
import { mulberry32 } from '../helpers/mulberry32.js';

/** Like Object.create(null): no property comes from a prototype, so a server's names are all data. */
function expectNothingInherited(object: object): void {
  for (let proto = Object.getPrototypeOf(object); proto !== null; proto = Object.getPrototypeOf(proto)) {
    expect(Reflect.ownKeys(proto)).toEqual([]);
  }
}

interface Parsed {
  type: number;
  requestId: number;
  content: Buffer;
  paddingLength: number;
}

/** Feed chunks to one parser; copy each record out (content is only valid during the callback). */
function parseAll(chunks: Buffer[], parser = new RecordParser()): Parsed[] {
  const out: Parsed[] = [];
  for (const chunk of chunks) {
    parser.parse(chunk, (r) =>
      out.push({
        type: r.type,
        requestId: r.requestId,
        content: Buffer.from(r.content),
        paddingLength: r.paddingLength,
      }),
    );
  }
  return out;
}

function splitAt(buffer: Buffer, ...points: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(Buffer.from(buffer.subarray(from, point)));
    from = point;
  }
  chunks.push(Buffer.from(buffer.subarray(from)));
  return chunks;
}

function bytesOf(buffer: Buffer): Buffer[] {
  return [...buffer].map((b) => Buffer.from([b]));
}

function pattern(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** A record with an explicit padding length (encodeRecord always pads to 8). */
function paddedRecord(type: number, id: number, content: Buffer, padding: number): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + content.length + padding, 0xee);
  writeHeader(out, 0, type, id, content.length, padding);
  content.copy(out, HEADER_SIZE);
  return out;
}

const ALL_TYPES = Object.values(RecordType);

describe('encoding records', () => {
  it('writes version, type, id, length, padding, reserved, content and zero padding', () => {
    const record = encodeRecord(RecordType.Stdout, 0x0102, Buffer.from('abc'));
    expect([...record]).toEqual([1, 6, 1, 2, 0, 3, 5, 0, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0]);
    expect([...encodeRecord(RecordType.Stdin, 1)]).toEqual([1, 5, 0, 1, 0, 0, 0, 0]);
    expect([...recordHeader(RecordType.Stderr, 7, 300, 4)]).toEqual([1, 7, 0, 7, 1, 44, 4, 0]);
    expect(() => recordHeader(RecordType.Stdout, 1, 65536)).toThrow(RangeError);
  });

  it('pads every record to a multiple of 8 with (8 - n % 8) % 8', () => {
    for (let n = 0; n < 40; n++) {
      expect(paddingFor(n)).toBe((8 - (n % 8)) % 8);
      expect(encodeRecord(RecordType.Stdout, 1, pattern(n)).length % 8).toBe(0);
    }
  });

  it('round-trips every record type through the parser', () => {
    for (const type of ALL_TYPES) {
      for (const size of [0, 1, 7, 8, 9, 100]) {
        const content = pattern(size, type);
        const [parsed, ...rest] = parseAll([encodeRecord(type, 300 + type, content)]);
        expect(rest).toEqual([]);
        expect(parsed).toMatchObject({ type, requestId: 300 + type, paddingLength: paddingFor(size) });
        expect(parsed!.content.equals(content)).toBe(true);
      }
    }
  });

  it('builds BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE and ABORT_REQUEST', () => {
    const [begin] = parseAll([beginRequest(5, Role.Authorizer, true)]);
    expect(begin!.type).toBe(RecordType.BeginRequest);
    expect([...begin!.content]).toEqual([0, 2, 1, 0, 0, 0, 0, 0]);
    const [end] = parseAll([endRequest(5, 0xfffffffe, ProtocolStatus.Overloaded)]);
    expect(end!.content.readUInt32BE(0)).toBe(0xfffffffe);
    expect([...end!.content.subarray(4)]).toEqual([2, 0, 0, 0]);
    const [unknown] = parseAll([unknownType(200)]);
    expect(unknown).toMatchObject({ type: RecordType.UnknownType, requestId: 0 });
    expect([...unknown!.content]).toEqual([200, 0, 0, 0, 0, 0, 0, 0]);
    const [abort] = parseAll([abortRequest(9)]);
    expect(abort).toMatchObject({ type: RecordType.AbortRequest, requestId: 9, content: Buffer.alloc(0) });
  });

  it('carries exactly 65535 bytes in one record', () => {
    const content = pattern(MAX_CONTENT);
    const record = encodeRecord(RecordType.Stdout, 1, content);
    expect(record.length).toBe(HEADER_SIZE + MAX_CONTENT + 1);
    const parsed = parseAll([record]);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]!.content.equals(content)).toBe(true);
  });

  it('splits a 70,000-byte body into two records', () => {
    const content = pattern(70_000);
    const parsed = parseAll([encodeRecord(RecordType.Stdin, 2, content)]);
    expect(parsed.map((r) => r.content.length)).toEqual([65535, 70_000 - 65535]);
    expect(Buffer.concat(parsed.map((r) => r.content)).equals(content)).toBe(true);
  });

  it('frames a stream chunk as pieces that are views of the body, not copies', () => {
    const body = pattern(70_000);
    const pieces: Buffer[] = [];
    const heads: number[] = [];
    const pushed = streamPieces(RecordType.Stdout, 3, body, pieces, heads);
    expect(pieces.map((p) => p.length)).toEqual([65535, 4465]);
    expect(pieces.every((p) => p.buffer === body.buffer)).toBe(true);
    expect(pushed).toBe(8 + 65535 + 1 + 8 + 4465 + 7);
    // For a writev: header, slice, padding (65535 → 1), header, slice (4465 → 7 padding).
    const writable = writablePieces(pieces, heads);
    expect(writable.map((p) => p.length)).toEqual([8, 65535, 1, 8, 4465, 7]);
    expect(writable[1]).toBe(pieces[0]);
    const parsed = parseAll([Buffer.concat(writable)]);
    expect(parsed.map((r) => [r.type, r.requestId, r.paddingLength])).toEqual([
      [RecordType.Stdout, 3, 1],
      [RecordType.Stdout, 3, 7],
    ]);
    expect(Buffer.concat(parsed.map((r) => r.content)).equals(body)).toBe(true);
    const small = Buffer.from('hello, world!!!!'); // 16 bytes: no padding
    const smallPieces: Buffer[] = [];
    const smallHeads: number[] = [];
    expect(streamPieces(RecordType.Stdout, 3, small, smallPieces, smallHeads)).toBe(24);
    expect(writablePieces(smallPieces, smallHeads).map((p) => p.length)).toEqual([8, 16]);
    expect(streamPieces(RecordType.Stdout, 3, Buffer.alloc(0), smallPieces, smallHeads)).toBe(0);
    expect(smallPieces).toEqual([small]);
  });

  it('gathers pieces and whole records into one Buffer, the same bytes as written one by one', () => {
    const pieces: Buffer[] = [];
    const heads: number[] = [];
    let size = streamPieces(RecordType.Stdout, 0xfffe, Buffer.from('Status: 200 OK\r\n\r\n'), pieces, heads);
    size += streamPieces(RecordType.Stderr, 0xfffe, Buffer.from('a warning\n'), pieces, heads);
    const tail = encodeRecord(RecordType.Stdout, 0xfffe);
    pieces.push(tail);
    heads.push(RAW_PIECE);
    size += tail.length;
    size += streamPieces(RecordType.Stdout, 1, pattern(70_000), pieces, heads);
    // Padding is written as zeros over whatever the new Buffer held: here, all ones.
    const dirty = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((n: number) => Buffer.alloc(n, 0xff));
    const gathered = gatherPieces(pieces, heads, size);
    dirty.mockRestore();
    expect(gathered.length).toBe(size);
    expect(gathered.equals(Buffer.concat(writablePieces(pieces, heads)))).toBe(true);
    const parsed = parseAll([gathered]);
    expect(parsed.map((r) => [r.type, r.requestId, r.content.length])).toEqual([
      [RecordType.Stdout, 0xfffe, 18],
      [RecordType.Stderr, 0xfffe, 10],
      [RecordType.Stdout, 0xfffe, 0],
      [RecordType.Stdout, 1, 65535],
      [RecordType.Stdout, 1, 4465],
    ]);
  });
});

describe('parsing records', () => {
  const fixtures: Array<[string, Buffer]> = [
    ['BEGIN', beginRequest(1, Role.Responder, false)],
    ['PARAMS', encodeRecord(RecordType.Params, 1, encodePairs({ SCRIPT_NAME: '/app', QUERY_STRING: 'a=1' }))],
    ['STDIN 13 bytes', encodeRecord(RecordType.Stdin, 1, Buffer.from('hello, world!'))],
    ['empty STDIN', encodeRecord(RecordType.Stdin, 1)],
    ['END_REQUEST', endRequest(1, 7, 0)],
    ['padding 0', paddedRecord(RecordType.Stdout, 2, Buffer.from('abc'), 0)],
    ['padding 255', paddedRecord(RecordType.Stdout, 2, Buffer.from('abc'), 255)],
    ['empty content with padding 255', paddedRecord(RecordType.Stdout, 2, Buffer.alloc(0), 255)],
  ];

  for (const [name, record] of fixtures) {
    it(`parses ${name} split at every byte`, () => {
      const whole = parseAll([record]);
      expect(whole).toHaveLength(1);
      for (let i = 0; i <= record.length; i++) {
        expect(parseAll(splitAt(record, i))).toEqual(whole);
      }
      expect(parseAll(bytesOf(record))).toEqual(whole);
    });
  }

  it('parses concatenated records split at every point and in 1-byte chunks', () => {
    const records = fixtures.map(([, record]) => record);
    const stream = Buffer.concat(records);
    const whole = parseAll([stream]);
    expect(whole).toHaveLength(records.length);
    for (let i = 0; i <= stream.length; i++) {
      for (const j of [i, Math.min(stream.length, i + 3), Math.min(stream.length, i + 300)]) {
        expect(parseAll(splitAt(stream, i, j))).toEqual(whole);
      }
    }
    expect(parseAll(bytesOf(stream))).toEqual(whole);
  });

  it('keeps the padding out of the content for 0 and 255 bytes of padding', () => {
    const [zero, big] = parseAll([
      Buffer.concat([
        paddedRecord(RecordType.Stdout, 1, Buffer.from('xyz'), 0),
        paddedRecord(RecordType.Stdout, 1, Buffer.from('uvw'), 255),
      ]),
    ]);
    expect(zero).toMatchObject({ content: Buffer.from('xyz'), paddingLength: 0 });
    expect(big).toMatchObject({ content: Buffer.from('uvw'), paddingLength: 255 });
  });

  it('assembles a 65535-byte record that arrives in many chunks', () => {
    const content = pattern(MAX_CONTENT, 9);
    const record = paddedRecord(RecordType.Stdin, 4, content, 255);
    const chunks: Buffer[] = [];
    for (let at = 0; at < record.length; at += 1000) chunks.push(Buffer.from(record.subarray(at, at + 1000)));
    const parsed = parseAll(chunks);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]!.content.equals(content)).toBe(true);
  });

  it('hands out views of the chunk when a record lies wholly inside it', () => {
    const chunk = Buffer.concat([
      encodeRecord(RecordType.Stdin, 1, Buffer.from('abc')),
      encodeRecord(RecordType.Stdin, 1),
    ]);
    const seen: Array<[boolean, boolean, number]> = [];
    new RecordParser().parse(chunk, (r) => seen.push([r.inChunk, r.content.buffer === chunk.buffer, r.content.length]));
    // An empty record's content is one shared empty Buffer, not a view.
    expect(seen).toEqual([
      [true, true, 3],
      [true, false, 0],
    ]);
    const parser = new RecordParser();
    const [a, b] = splitAt(chunk, 5);
    const inChunk: boolean[] = [];
    parser.parse(a!, () => inChunk.push(true));
    parser.parse(b!, (r) => inChunk.push(r.inChunk));
    expect(inChunk).toEqual([false, true]);
  });

  it('throws WSGIKIT_PROTOCOL on a version other than 1, also when the header is split', () => {
    const bad = encodeRecord(RecordType.Stdin, 1, Buffer.from('x'));
    bad[0] = 2;
    expect(() => parseAll([bad])).toThrow(WsgikitError);
    try {
      parseAll(bytesOf(bad));
      expect.unreachable();
    } catch (error) {
      expect((error as WsgikitError).code).toBe('WSGIKIT_PROTOCOL');
    }
    const http = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(() => parseAll([http])).toThrow(expect.objectContaining({ code: 'WSGIKIT_PROTOCOL' }));
  });
});

describe('name-value pairs', () => {
  const long = 'v'.repeat(200);
  const pairs: Record<string, string> = {
    SHORT: 'x',
    EMPTY: '',
    ['N'.repeat(127)]: 'y'.repeat(127),
    ['M'.repeat(128)]: long,
    LATIN1: 'caf\u00e9 \u00ff',
  };

  it('encodes 1-byte lengths below 128 and 4-byte lengths (high bit set) from 128', () => {
    expect([...encodePairs({ A: 'bc' })]).toEqual([1, 2, 0x41, 0x62, 0x63]);
    const four = encodePairs([['A', 'z'.repeat(128)]]);
    expect([...four.subarray(0, 6)]).toEqual([1, 0x80, 0, 0, 128, 0x41]);
    const both = encodePairs([['K'.repeat(300), 'v']]);
    expect([...both.subarray(0, 5)]).toEqual([0x80, 0, 1, 44, 1]);
  });

  it('round-trips pairs as latin-1 strings, one character per byte', () => {
    const decoded = decodePairs(encodePairs(pairs));
    expect({ ...decoded }).toEqual(pairs);
    expectNothingInherited(decoded);
    const raw = Buffer.from([1, 2, 0x41, 0xc3, 0xa9]); // "A" = the two bytes of UTF-8 é
    expect(decodePairs(raw).A).toBe('\u00c3\u00a9');
  });

  it('decodes a stream split at every byte, in every pair of pieces', () => {
    const stream = encodePairs(pairs);
    for (let i = 0; i <= stream.length; i++) {
      const decoder = new PairDecoder();
      for (const piece of splitAt(stream, i)) decoder.write(piece);
      expect({ ...decoder.end() }).toEqual(pairs);
    }
    const decoder = new PairDecoder();
    for (const piece of bytesOf(stream)) decoder.write(piece);
    expect({ ...decoder.end() }).toEqual(pairs);
  });

  it('decodes a pair split across PARAMS records at every byte, as libfcgi sends it', () => {
    const stream = encodePairs({ HTTP_COOKIE: 'c'.repeat(300), REQUEST_METHOD: 'GET' });
    for (let i = 0; i <= stream.length; i++) {
      const records = Buffer.concat([
        encodeRecord(RecordType.Params, 1, stream.subarray(0, i)),
        encodeRecord(RecordType.Params, 1, stream.subarray(i)),
      ]);
      const decoder = new PairDecoder();
      for (const r of parseAll([records])) decoder.write(r.content);
      expect({ ...decoder.end() }).toEqual({ HTTP_COOKIE: 'c'.repeat(300), REQUEST_METHOD: 'GET' });
    }
  });

  it('decodes each request of a reused decoder afresh, when names at a position change', () => {
    // A decoder remembers the names of the last request by position: a name of the same length at
    // the same place, or one that only starts like the remembered one, is a different name.
    const requests: Array<Array<[string, string]>> = [
      [
        ['QUERY_STRING', 'a=1'],
        ['REQUEST_METHOD', 'GET'],
        ['AB', 'x'],
      ],
      [
        ['QUERY_STRING', 'b=2'],
        ['REQUEST_METHOD', 'POST'],
        ['AC', 'y'],
      ],
      [
        ['QUERY_STRINGS', 'c'],
        ['REQUEST_METHOD', 'PUT'],
        ['A', 'z'],
        ['EXTRA', 'e'],
      ],
      [
        ['QUERY_STRIN', 'd'],
        ['REQUEST_METHOD', 'GET'],
      ],
      [
        ['QUERY_STRING', 'e=5'],
        ['REQUEST_METHOD', 'GET'],
        ['AB', 'w'],
      ],
    ];
    const decoder = new PairDecoder();
    for (const request of requests) {
      const stream = encodePairs(request);
      decoder.write(stream.subarray(0, 7));
      decoder.write(stream.subarray(7));
      expect(Object.entries(decoder.end())).toEqual(request);
      expect(decoder.fields).toEqual(request.flat());
      decoder.reset();
    }
  });

  it('lets a later pair with the same name win, and drops pairs holding NUL', () => {
    const decoder = new PairDecoder();
    decoder.write(
      encodePairs([
        ['A', '1'],
        ['A', '2'],
        ['BAD', 'x\0y'],
        ['N\0', 'v'],
        ['OK', 'fine'],
        ['__proto__', 'p'],
      ]),
    );
    const params = decoder.end();
    expect(Object.entries(params)).toEqual([
      ['A', '2'],
      ['OK', 'fine'],
      ['__proto__', 'p'],
    ]);
    expectNothingInherited(params);
    expect(decoder.dropped).toEqual(['BAD', 'N\0']);
    // In order, repeats included (the bridge keeps a repeated name's last value, as params does).
    expect(decoder.fields).toEqual(['A', '1', 'A', '2', 'OK', 'fine', '__proto__', 'p']);
    decoder.reset();
    expect(decoder.dropped).toEqual([]);
    expect({ ...decoder.end() }).toEqual({});
    expect(decoder.fields).toEqual([]);
  });

  it('gives a sequence of names that keeps coming the same params, names written as data', () => {
    // A made constructor writes each name into code as a string literal: none may break out.
    const odd = ['"]; globalThis.hacked = 1; this["', '\\', 'a\nb', '\u0085\u00ff', '${x}', '__proto__', '0'];
    const pairs: Array<[string, string]> = [
      ['REQUEST_METHOD', 'GET'],
      ['A', '1'],
      ['A', '2'],
      ...odd.map((name, i): [string, string] => [name, `v${i}`]),
    ];
    const seen: Array<Record<string, string>> = [];
    for (let i = 0; i < 8; i++) {
      pairs[0]![1] = `GET${i}`;
      seen.push(decodePairs(encodePairs(pairs)));
    }
    const dictionary = Object.create(null) as Record<string, string>;
    for (const [name, value] of pairs) dictionary[name] = value;
    for (const [i, params] of seen.entries()) {
      expect(Object.entries(params)).toEqual(Object.entries({ ...dictionary, REQUEST_METHOD: `GET${i}` }));
      expect(params.A).toBe('2');
      expect(params.__proto__).toBe(`v${odd.indexOf('__proto__')}`);
      expect(params.toString).toBeUndefined();
      expectNothingInherited(params);
    }
    expect((globalThis as { hacked?: number }).hacked).toBeUndefined();
    // The last ones came from a made constructor (Object.create(null) has no prototype at all).
    expect(Object.getPrototypeOf(seen[7])).not.toBe(null);
    // A later sequence that differs is decoded on its own.
    const other = decodePairs(
      encodePairs([
        ['REQUEST_METHOD', 'POST'],
        ['A', '3'],
      ]),
    );
    expect(Object.entries(other)).toEqual([
      ['REQUEST_METHOD', 'POST'],
      ['A', '3'],
    ]);
  });

  it('shares a constructor between requests that begin alike and end with different headers', () => {
    const server: Array<[string, string]> = [
      ['SERVER_SOFTWARE', 'nginx'],
      ['SCRIPT_NAME', '/app.wsgi'],
      ['PATH_INFO', '/x'],
      ['HTTP_HOST', 'set.by.config'],
      ['REQUEST_METHOD', 'GET'],
    ];
    const tails: Array<Array<[string, string]>> = [
      [['HTTP_ACCEPT', '*/*']],
      [
        ['HTTP_USER_AGENT', 'curl'],
        ['HTTP_HOST', 'from.client'],
      ],
      [],
      [
        ['HTTP_COOKIE', 'a=1'],
        ['HTTP_ACCEPT', 'text/html'],
      ],
    ];
    const seen: Array<Record<string, string>> = [];
    for (let i = 0; i < 12; i++) {
      const pairs = [...server, ...tails[i % tails.length]!];
      const params = decodePairs(encodePairs(pairs));
      const dictionary = Object.create(null) as Record<string, string>;
      for (const [name, value] of pairs) dictionary[name] = value;
      expect(Object.entries(params)).toEqual(Object.entries(dictionary));
      expectNothingInherited(params);
      seen.push(params);
    }
    expect(seen[5]!.HTTP_HOST).toBe('from.client');
    expect(Object.getPrototypeOf(seen[11])).not.toBe(null);
  });

  it('leaves what requests taught alone when it decodes a GET_VALUES query (learn: false)', () => {
    const pairs: Array<[string, string]> = ['ONE', 'TWO', 'THREE', 'FOUR', 'FIVE'].map((n) => [`GV_${n}`, n]);
    const query = encodePairs([
      ['FCGI_MAX_CONNS', ''],
      ['FCGI_MAX_REQS', ''],
      ['FCGI_MPXS_CONNS', ''],
    ]);
    const seen: Array<Record<string, string>> = [];
    for (let i = 0; i < 4; i++) {
      seen.push(decodePairs(encodePairs(pairs)));
      // Between two requests, as a web server may ask at any time.
      const asked = decodePairs(query, {}, { learn: false });
      expect(Object.keys(asked)).toEqual(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']);
      expectNothingInherited(asked);
    }
    // The requests' run of names still made its constructor on the third, used from the fourth.
    expect(Object.getPrototypeOf(seen[3])).not.toBe(null);
    for (const params of seen) expect(Object.entries(params)).toEqual(pairs);
  });

  it('makes a constructor for a longer run of names even after a shorter one matched them', () => {
    const head: Array<[string, string]> = ['ONE', 'TWO', 'THREE', 'FOUR'].map((n) => [`RUN_${n}`, n]);
    for (const tail of ['A', 'B', 'C']) decodePairs(encodePairs([...head, [`RUN_TAIL_${tail}`, tail]]));
    const long: Array<[string, string]> = [...head];
    for (let i = 0; i < 26; i++) long.push([`RUN_LONG_${i}`, String(i)]);
    const seen: Array<Record<string, string>> = [];
    for (let i = 0; i < 8; i++) seen.push(decodePairs(encodePairs(long)));
    for (const params of seen) expect(Object.entries(params)).toEqual(long);
    const short = Object.getPrototypeOf(seen[0]) as object | null;
    const longer = Object.getPrototypeOf(seen[7]) as object | null;
    expect(short).not.toBe(null); // the four-name constructor
    expect(longer).not.toBe(null);
    expect(longer).not.toBe(short);
  });

  it('refuses PARAMS over the byte cap, over the pair cap, a pair longer than the cap, or a cut pair', () => {
    const code = { code: 'WSGIKIT_PROTOCOL' };
    const bytes = new PairDecoder({ maxBytes: 100 });
    bytes.write(Buffer.from(encodePairs({ A: 'x'.repeat(50) })));
    expect(() => bytes.write(encodePairs({ B: 'x'.repeat(50) }))).toThrow(expect.objectContaining(code));

    const many: Array<[string, string]> = [];
    for (let i = 0; i < 11; i++) many.push([`K${i}`, 'v']);
    expect(() => decodePairs(encodePairs(many), { maxPairs: 10 })).toThrow(expect.objectContaining(code));
    expect(Object.keys(decodePairs(encodePairs(many.slice(0, 10)), { maxPairs: 10 }))).toHaveLength(10);

    // The header of a 2 GB pair: refused at once, not buffered.
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff, 1]);
    expect(() => new PairDecoder().write(huge)).toThrow(expect.objectContaining(code));

    const cut = new PairDecoder();
    cut.write(encodePairs({ A: 'bcd' }).subarray(0, 4));
    expect(() => cut.end()).toThrow(expect.objectContaining(code));

    // Defaults: 1 MiB and 1000 pairs.
    const defaults = new PairDecoder();
    expect([defaults.maxBytes, defaults.maxPairs]).toEqual([1024 * 1024, 1000]);
  });
});

/** A fake socket: what the connection writes is collected; input is emitted by hand. */
class FakeSocket extends Duplex {
  written: Buffer[] = [];
  constructor() {
    super({
      read() {},
      write: (chunk: Buffer, _encoding, callback) => {
        this.written.push(chunk);
        callback();
      },
    });
  }
}

describe('fuzzing the parser and connection (fixed seed)', () => {
  function validRequest(rand: () => number): Buffer {
    const id = 1 + Math.floor(rand() * 3);
    const body = pattern(Math.floor(rand() * 300));
    return Buffer.concat([
      beginRequest(id, rand() < 0.9 ? Role.Responder : Math.floor(rand() * 5), rand() < 0.5),
      encodeRecord(RecordType.Params, id, encodePairs({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length) })),
      encodeRecord(RecordType.Params, id),
      encodeRecord(RecordType.Stdin, id, body),
      encodeRecord(RecordType.Stdin, id),
      rand() < 0.2 ? encodeRecord(RecordType.GetValues, 0, encodePairs({ FCGI_MAX_CONNS: '' })) : Buffer.alloc(0),
      rand() < 0.1 ? abortRequest(id) : Buffer.alloc(0),
    ]);
  }

  it('never throws out of the connection: garbage and truncations close it with onError', () => {
    const rand = mulberry32(0x5eed);
    const errors: Error[] = [];
    let cases = 0;
    let closedWithError = 0;
    const started = Date.now();
    for (; cases < 2000 && Date.now() - started < 10_000; cases++) {
      const socket = new FakeSocket();
      const before = errors.length;
      new FastcgiConnection(socket, {
        multiplex: rand() < 0.3,
        onError: (error) => errors.push(error),
        onRequest: (request: FastcgiRequest) => {
          request.stdin.resume();
          request.writeStdout(Buffer.from('Status: 200 OK\r\n\r\nok'));
          if (rand() < 0.8) request.end(0);
        },
      });
      let input = validRequest(rand);
      const kind = rand();
      if (kind < 0.3) {
        // random garbage
        input = Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
      } else if (kind < 0.7) {
        // flip a few bytes of a valid request
        input = Buffer.from(input);
        for (let i = Math.floor(rand() * 4) + 1; i > 0; i--)
          input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256);
      }
      if (rand() < 0.5) input = input.subarray(0, Math.floor(rand() * input.length)); // truncated
      // deliver in random pieces, then the peer goes away
      let at = 0;
      while (at < input.length) {
        const size = 1 + Math.floor(rand() * 64);
        expect(() => socket.emit('data', Buffer.from(input.subarray(at, at + size)))).not.toThrow();
        at += size;
      }
      if (errors.length > before) expect(socket.destroyed).toBe(true); // closed by the connection itself
      expect(() => socket.destroy()).not.toThrow();
      if (errors.length > before) {
        closedWithError++;
        for (const error of errors.slice(before)) {
          expect(error).toBeInstanceOf(WsgikitError);
          expect((error as WsgikitError).code).toBe('WSGIKIT_PROTOCOL');
        }
      }
    }
    expect(cases).toBeGreaterThan(200);
    expect(closedWithError).toBeGreaterThan(0);
  });

  it('round-trips random records through encode → split → parse', () => {
    const rand = mulberry32(42);
    for (let n = 0; n < 300; n++) {
      const records: Parsed[] = [];
      const encoded: Buffer[] = [];
      for (let k = Math.floor(rand() * 5) + 1; k > 0; k--) {
        const type = ALL_TYPES[Math.floor(rand() * ALL_TYPES.length)]!;
        const id = Math.floor(rand() * 65536);
        const size = rand() < 0.05 ? MAX_CONTENT : Math.floor(rand() * 2000);
        const padding = Math.floor(rand() * 256);
        const content = pattern(size, n);
        records.push({ type, requestId: id, content, paddingLength: padding });
        encoded.push(paddedRecord(type, id, content, padding));
      }
      const stream = Buffer.concat(encoded);
      const cuts: number[] = [];
      for (let c = Math.floor(rand() * 6); c > 0; c--) cuts.push(Math.floor(rand() * stream.length));
      cuts.sort((a, b) => a - b);
      const parsed = parseAll(splitAt(stream, ...cuts));
      expect(parsed.map(({ content, ...rest }) => ({ ...rest, size: content.length }))).toEqual(
        records.map(({ content, ...rest }) => ({ ...rest, size: content.length })),
      );
      parsed.forEach((r, i) => expect(r.content.equals(records[i]!.content)).toBe(true));
    }
  });
});
