import { describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import {
  FROM_BRIDGE,
  FrameParser,
  FrameType,
  HEADER_SIZE,
  MAX_PAYLOAD,
  abortFrame,
  decodeFields,
  decodeStart,
  encodeFields,
  encodeFrame,
  frameHeader,
  requestFrame,
} from '../../src/python-bridge/frames.js';

interface Parsed {
  type: number;
  payload: Buffer;
}

/** Feed chunks to one parser; collect the frames (keeping the parser's own payload views). */
function parseAll(chunks: Buffer[], parser = new FrameParser()): Parsed[] {
  const out: Parsed[] = [];
  for (const chunk of chunks) parser.parse(chunk, (type, payload) => out.push({ type, payload }));
  return out;
}

function splitAt(buffer: Buffer, ...points: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(Buffer.from(buffer.subarray(from, point))); // fresh buffers, as sockets give
    from = point;
  }
  chunks.push(Buffer.from(buffer.subarray(from)));
  return chunks;
}

function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

describe('encoding', () => {
  it('writes a queued request as Q, and names the request an A aborts', () => {
    const frame = requestFrame({ A: 'b' }, null, true, FrameType.Queued);
    expect(frame.subarray(0, 8).toString('latin1')).toBe('Q\0\0\0\x03A\0b');
    expect(frame.subarray(8)).toEqual(encodeFrame(FrameType.End));
    expect(abortFrame(12, 'gone')).toEqual(encodeFrame(FrameType.Abort, Buffer.from('12\0gone')));
  });

  it('writes type, big-endian length and payload', () => {
    const frame = encodeFrame(FrameType.Body, Buffer.from('abc'));
    expect([...frame]).toEqual([0x42, 0, 0, 0, 3, 0x61, 0x62, 0x63]);
    expect([...encodeFrame(FrameType.End)]).toEqual([0x45, 0, 0, 0, 0]);
    expect([...frameHeader(FrameType.Body, 0x01020304)]).toEqual([0x42, 1, 2, 3, 4]);
  });

  it('joins fields with NUL as latin-1, one byte per character', () => {
    const payload = encodeFields(['200 OK', 'X-Name', 'caf\u00e9\u00ff']);
    expect(payload.length).toBe('200 OK'.length + 'X-Name'.length + 5 + 2);
    expect(payload.toString('latin1')).toBe('200 OK\0X-Name\0caf\u00e9\u00ff');
    expect(decodeFields(payload)).toEqual(['200 OK', 'X-Name', 'caf\u00e9\u00ff']);
    expect(encodeFields([]).length).toBe(0);
    expect(decodeFields(Buffer.alloc(0))).toEqual([]);
    expect(decodeFields(encodeFields(['', '']))).toEqual(['', '']);
  });

  it('builds R + B + E for a small request in one buffer, skipping wsgi.* keys', () => {
    const env = { REQUEST_METHOD: 'POST', PATH_INFO: '/\u00e9', 'wsgi.input': 'x', EMPTY: '' };
    const frames = parseAll([requestFrame(env, Buffer.from('body!'), true)]);
    expect(frames.map((f) => String.fromCharCode(f.type))).toEqual(['R', 'B', 'E']);
    expect(decodeFields(frames[0]!.payload)).toEqual(['REQUEST_METHOD', 'POST', 'PATH_INFO', '/\u00e9', 'EMPTY', '']);
    expect(frames[1]!.payload.toString()).toBe('body!');
    expect(frames[2]!.payload.length).toBe(0);
  });

  it("joins the R payload from the environ's fields when given, the same bytes as from the object", () => {
    const env = { REQUEST_METHOD: 'GET', PATH_INFO: '/\u00e9', EMPTY: '' };
    const fields = ['REQUEST_METHOD', 'GET', 'PATH_INFO', '/\u00e9', 'EMPTY', ''];
    expect(requestFrame(env, null, true, FrameType.Request, fields)).toEqual(requestFrame(env, null, true));
    // A wsgi.* name among the fields: the object walk, which skips it.
    const withWsgi = { ...env, 'wsgi.x': 'y' };
    const frame = requestFrame(withWsgi, null, true, FrameType.Request, [...fields, 'wsgi.x', 'y']);
    expect(frame).toEqual(requestFrame(env, null, true));
  });

  it('sends names that only begin like a wsgi.* key, from the fields and from the object', () => {
    const env = { wsgi: 'a', wsgix: 'b', 'wsgi-x': 'c', w: 'd' };
    const fields = ['wsgi', 'a', 'wsgix', 'b', 'wsgi-x', 'c', 'w', 'd'];
    for (const frame of [requestFrame(env), requestFrame(env, null, false, FrameType.Request, fields)]) {
      expect(decodeFields(parseAll([frame])[0]!.payload)).toEqual(fields);
    }
  });

  it('splits a body over MAX_PAYLOAD into several B frames', () => {
    const body = bytes(MAX_PAYLOAD * 2 + 10);
    const frames = parseAll([requestFrame({ A: 'b' }, body, false)]);
    expect(frames.map((f) => f.payload.length)).toEqual([3, MAX_PAYLOAD, MAX_PAYLOAD, 10]);
    expect(Buffer.concat(frames.slice(1).map((f) => f.payload)).equals(body)).toBe(true);
  });

  it('rejects a NUL inside a request variable', () => {
    expect(() => requestFrame({ PATH_INFO: 'a\0b' })).toThrow(WsgikitError);
  });
});

describe('decodeStart', () => {
  const payload = (text: string) => Buffer.from(text, 'latin1');

  it('decodes the status and the headers of an S frame', () => {
    expect(decodeStart(payload('404 Not Found\0Content-Type\0text/plain\0X-A\0caf\u00e9'))).toEqual({
      status: '404 Not Found',
      headers: [
        ['Content-Type', 'text/plain'],
        ['X-A', 'caf\u00e9'],
      ],
      payload: expect.any(Buffer),
    });
    expect(decodeStart(payload('204 No Content')).headers).toEqual([]);
  });

  it('hands a repeated head the same headers, and any other head its own', () => {
    const first = decodeStart(payload('200 OK\0Content-Length\x0012'));
    expect(decodeStart(payload('200 OK\0Content-Length\x0012'))).toBe(first);
    // Same length, one byte apart: decoded, not taken for the last one.
    expect(decodeStart(payload('200 OK\0Content-Length\x0013')).headers).toEqual([['Content-Length', '13']]);
  });

  it('keeps its own copy: the read the payload was a view of may be reused', () => {
    const read = payload('200 OK\0X-Run\0one');
    decodeStart(read);
    read.write('200 OK\0X-Run\0two', 'latin1');
    expect(decodeStart(read).headers).toEqual([['X-Run', 'two']]);
  });
});

describe('FrameParser', () => {
  const sample = [
    encodeFrame(FrameType.Ready, encodeFields(['pid', '1'])),
    encodeFrame(FrameType.Start, encodeFields(['200 OK', 'Content-Type', 'text/plain'])),
    encodeFrame(FrameType.Body, bytes(300)),
    encodeFrame(FrameType.Body),
    encodeFrame(FrameType.Done),
  ];
  const stream = Buffer.concat(sample);
  const expected = sample.map((frame) => ({ type: frame[0]!, payload: frame.subarray(HEADER_SIZE) }));

  it('parses frames fed whole, one chunk each', () => {
    expect(parseAll(sample.map((f) => Buffer.from(f)))).toEqual(expected);
  });

  it('parses the stream fed one byte at a time', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    expect(parseAll(chunks)).toEqual(expected);
  });

  it('parses the stream split once at every point', () => {
    for (let at = 0; at <= stream.length; at++) {
      expect(parseAll(splitAt(stream, at)), `split at ${at}`).toEqual(expected);
    }
  });

  it('parses two frames in one chunk split at every pair of points', () => {
    const first = sample[1]!;
    const second = encodeFrame(FrameType.Body, bytes(40));
    const two = Buffer.concat([first, second]);
    const want = [first, second].map((f) => `${f[0]}:${f.subarray(HEADER_SIZE).toString('hex')}`).join(' ');
    for (let a = 0; a <= two.length; a++) {
      for (let b = a; b <= two.length; b++) {
        const got = parseAll(splitAt(two, a, b))
          .map((f) => `${f.type}:${f.payload.toString('hex')}`)
          .join(' ');
        if (got !== want) expect(got, `split at ${a}, ${b}`).toBe(want);
      }
    }
  });

  it('never overwrites a payload it handed out', () => {
    // Large frames split across many chunks go through the parser's own buffer.
    const frames = [bytes(70_000, 1), bytes(10, 2), bytes(200_000, 3), bytes(5, 4), bytes(130_000, 5)].map((p) =>
      encodeFrame(FrameType.Body, p),
    );
    const all = Buffer.concat(frames);
    for (const size of [1000, 4093, 65536, 100_000]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.length; i += size) chunks.push(Buffer.from(all.subarray(i, i + size)));
      const got = parseAll(chunks); // payloads checked only after every chunk was parsed
      expect(got.map((f) => f.payload.equals(frames[got.indexOf(f)]!.subarray(HEADER_SIZE)))).toEqual(
        frames.map(() => true),
      );
    }
  });

  it('accepts a payload of exactly MAX_PAYLOAD and rejects one byte more', () => {
    const max = encodeFrame(FrameType.Body, Buffer.alloc(MAX_PAYLOAD));
    expect(parseAll(splitAt(max, 3, 70_000))[0]!.payload.length).toBe(MAX_PAYLOAD);
    const over = frameHeader(FrameType.Body, MAX_PAYLOAD + 1);
    expect(() => parseAll([over])).toThrow(/exceeds/);
    try {
      parseAll([over]);
    } catch (error) {
      expect((error as WsgikitError).code).toBe('WSGIKIT_PROTOCOL');
    }
  });

  it('rejects an unknown frame type, and a type outside the accepted direction', () => {
    expect(() => parseAll([Buffer.from([0x71, 0, 0, 0, 0])])).toThrow(/unexpected frame type 0x71/);
    const fromBridgeOnly = new FrameParser(FROM_BRIDGE);
    expect(() => parseAll([encodeFrame(FrameType.Request)], fromBridgeOnly)).toThrow(WsgikitError);
  });

  it('waits for a header split before its length is known', () => {
    const parser = new FrameParser();
    const frame = encodeFrame(FrameType.Body, Buffer.from('xyz'));
    expect(parseAll([frame.subarray(0, 2)], parser)).toEqual([]);
    expect(parseAll([frame.subarray(2, 4)], parser)).toEqual([]);
    expect(parseAll([Buffer.concat([frame.subarray(4), frame])], parser).map((f) => f.payload.toString())).toEqual([
      'xyz',
      'xyz',
    ]);
  });
});
