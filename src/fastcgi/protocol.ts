// FastCGI 1.0 constants and record encoding (the serializer half of the codec; parsing lives in
// record-parser.ts and pair-decoder.ts). Records are: version u8 (=1), type u8, requestId u16 BE,
// contentLength u16 BE, paddingLength u8, reserved u8, content, padding.
//
// Two ways to encode:
// - `encodeRecord`, `encodePairs`, `endRequest`, … build whole records in one Buffer: for the small
//   control records and for bodies we own anyway.
// - `streamPieces` frames a caller's body chunk without copying it: *views* of the body, each with
//   the head of its record (type and request id) as a small integer. The pieces leave either
//   gathered into one Buffer with their headers (`gatherPieces`: a small answer, one write, no
//   Buffer per header) or as Buffers for a writev/cork (`writablePieces`: a 64 KB response chunk is
//   never copied).
import { Buffer } from 'node:buffer';

export const VERSION = 1;
export const HEADER_SIZE = 8;
/** The largest content one record can carry (u16). */
export const MAX_CONTENT = 65535;
/** Management records (GET_VALUES, …) use request id 0. */
export const NULL_REQUEST_ID = 0;

export const RecordType = {
  BeginRequest: 1,
  AbortRequest: 2,
  EndRequest: 3,
  Params: 4,
  Stdin: 5,
  Stdout: 6,
  Stderr: 7,
  Data: 8,
  GetValues: 9,
  GetValuesResult: 10,
  UnknownType: 11,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export const Role = {
  Responder: 1,
  Authorizer: 2,
  Filter: 3,
} as const;
export type Role = (typeof Role)[keyof typeof Role];

/**
 * Not FastCGI's: what the user's CGI daemon says to the native launcher (src/cgi/launcher/), and
 * only to it (it announced itself with the =wsgikit.launcher param). PROCEED, an empty record of a
 * type FastCGI does not define: send the body now. END_REQUEST with appStatus DECLINE before any
 * output: not in the daemon; the launcher execs the Node entry with the request untouched.
 */
export const LAUNCHER_PROCEED = 12;
export const LAUNCHER_DECLINE = 0x57534749;

/** FCGI_BEGIN_REQUEST flags. */
export const KEEP_CONN = 1;

export const ProtocolStatus = {
  RequestComplete: 0,
  CantMpxConn: 1,
  Overloaded: 2,
  UnknownRole: 3,
} as const;
export type ProtocolStatus = (typeof ProtocolStatus)[keyof typeof ProtocolStatus];

/** Names a GET_VALUES query may ask for. */
export const MAX_CONNS = 'FCGI_MAX_CONNS';
export const MAX_REQS = 'FCGI_MAX_REQS';
export const MPXS_CONNS = 'FCGI_MPXS_CONNS';

const EMPTY = Buffer.alloc(0);
/** Shared zero bytes for padding; never written to. */
const ZEROS = Buffer.alloc(8);

/** Padding that brings `length` to a multiple of 8. */
export function paddingFor(length: number): number {
  return (8 - (length & 7)) & 7;
}

/** Write one record header into `target` at `at`. */
export function writeHeader(
  target: Buffer,
  at: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): void {
  target[at] = VERSION;
  target[at + 1] = type;
  target[at + 2] = requestId >>> 8;
  target[at + 3] = requestId & 0xff;
  target[at + 4] = contentLength >>> 8;
  target[at + 5] = contentLength & 0xff;
  target[at + 6] = paddingLength;
  target[at + 7] = 0;
}

/** The encoded size of `bodyLength` bytes as records of `type` (at least one, even if empty). */
export function encodedSize(bodyLength: number): number {
  if (bodyLength === 0) return HEADER_SIZE;
  const full = Math.floor(bodyLength / MAX_CONTENT);
  const rest = bodyLength - full * MAX_CONTENT;
  return (
    full * (HEADER_SIZE + MAX_CONTENT + paddingFor(MAX_CONTENT)) +
    (rest === 0 ? 0 : HEADER_SIZE + rest + paddingFor(rest))
  );
}

/**
 * Encode `body` into `target` at `at` as records of `type`, split at 65535 bytes and padded to 8.
 * An empty body gives one empty record (which, for a stream type, ends the stream). Returns the
 * offset after the last record.
 */
export function encodeRecordInto(
  target: Buffer,
  at: number,
  type: number,
  requestId: number,
  body: Uint8Array,
): number {
  if (body.length === 0) {
    writeHeader(target, at, type, requestId, 0, 0);
    return at + HEADER_SIZE;
  }
  for (let start = 0; start < body.length; start += MAX_CONTENT) {
    const size = Math.min(MAX_CONTENT, body.length - start);
    const padding = paddingFor(size);
    writeHeader(target, at, type, requestId, size, padding);
    target.set(body.subarray(start, start + size), at + HEADER_SIZE);
    at += HEADER_SIZE + size;
    target.fill(0, at, at + padding);
    at += padding;
  }
  return at;
}

/**
 * One or more records of `type` carrying `body`, in one Buffer: split at 65535 bytes, each padded
 * with (8 - n % 8) % 8 zero bytes. An empty body gives one empty record.
 */
export function encodeRecord(type: number, requestId: number, body: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(encodedSize(body.length));
  encodeRecordInto(out, 0, type, requestId, body);
  return out;
}

/** The head of a piece that is bytes to send as they are, not the content of a record. */
export const RAW_PIECE = -1;

/**
 * Frame a stream chunk (STDOUT, STDERR, STDIN, …) without copying it: per slice of at most 65535
 * bytes, pushes a view of `body` onto `pieces` and the head of its record (type and request id)
 * onto `heads`. Returns the bytes the records take, headers and padding included. An empty body
 * pushes nothing: an empty record would end the stream; use `encodeRecord(type, id)` for that.
 */
export function streamPieces(type: number, requestId: number, body: Buffer, pieces: Buffer[], heads: number[]): number {
  let pushed = 0;
  for (let start = 0; start < body.length; start += MAX_CONTENT) {
    const size = Math.min(MAX_CONTENT, body.length - start);
    const padding = paddingFor(size);
    pieces.push(size === body.length ? body : body.subarray(start, start + size));
    // One small integer (a Smi to V8); the padding follows from the content's length.
    heads.push((type << 16) | requestId);
    pushed += HEADER_SIZE + size + padding;
  }
  return pushed;
}

/** The pieces as one Buffer of `size` bytes, each record's header and padding written in place. */
export function gatherPieces(pieces: readonly Buffer[], heads: readonly number[], size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    const head = heads[i]!;
    if (head === RAW_PIECE) {
      at += piece.copy(out, at);
      continue;
    }
    const padding = paddingFor(piece.length);
    writeHeader(out, at, head >> 16, head & 0xffff, piece.length, padding);
    at += HEADER_SIZE + piece.copy(out, at + HEADER_SIZE);
    for (const end = at + padding; at < end; at++) out[at] = 0;
  }
  return out;
}

/** The pieces as Buffers for a writev: each record's header, its content (not copied), its padding. */
export function writablePieces(pieces: readonly Buffer[], heads: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    const head = heads[i]!;
    if (head === RAW_PIECE) {
      out.push(piece);
      continue;
    }
    const padding = paddingFor(piece.length);
    out.push(recordHeader(head >> 16, head & 0xffff, piece.length, padding), piece);
    if (padding !== 0) out.push(ZEROS.subarray(0, padding));
  }
  return out;
}

/** The 8-byte header alone (for callers framing their own slices of at most 65535 bytes). */
export function recordHeader(type: number, requestId: number, contentLength: number, paddingLength = 0): Buffer {
  if (contentLength > MAX_CONTENT || contentLength < 0) {
    throw new RangeError(`record content of ${contentLength} bytes is outside 0..${MAX_CONTENT}`);
  }
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  writeHeader(header, 0, type, requestId, contentLength, paddingLength);
  return header;
}

/** The byte size of a name or value length: 1 byte below 128, else 4 bytes with the high bit set. */
function lengthSize(length: number): number {
  return length < 128 ? 1 : 4;
}

function writeLength(target: Buffer, at: number, length: number): number {
  if (length < 128) {
    target[at] = length;
    return at + 1;
  }
  target.writeUInt32BE((length | 0x80000000) >>> 0, at);
  return at + 4;
}

export type Pairs = Record<string, string> | Iterable<readonly [string, string]>;

function pairList(pairs: Pairs): Iterable<readonly [string, string]> {
  return Symbol.iterator in pairs ? (pairs as Iterable<readonly [string, string]>) : Object.entries(pairs);
}

/**
 * Name-value pairs as FastCGI encodes them (PARAMS, GET_VALUES, GET_VALUES_RESULT): each length in
 * 1 byte (< 128) or 4 bytes (high bit set), then name and value. Strings are written as latin-1, one
 * byte per character (PEP 3333 byte strings); characters above U+00FF are a caller's bug.
 */
export function encodePairs(pairs: Pairs): Buffer {
  const list = Array.isArray(pairs) ? (pairs as ReadonlyArray<readonly [string, string]>) : [...pairList(pairs)];
  let size = 0;
  for (const [name, value] of list) {
    size += lengthSize(name.length) + lengthSize(value.length) + name.length + value.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [name, value] of list) {
    at = writeLength(out, at, name.length);
    at = writeLength(out, at, value.length);
    at += out.write(name, at, 'latin1');
    at += out.write(value, at, 'latin1');
  }
  return out;
}

/** FCGI_BEGIN_REQUEST: role u16, flags u8, 5 reserved bytes. */
export function beginRequest(requestId: number, role: number, keepConn: boolean): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + 8);
  writeHeader(out, 0, RecordType.BeginRequest, requestId, 8, 0);
  out.writeUInt16BE(role, HEADER_SIZE);
  out[HEADER_SIZE + 2] = keepConn ? KEEP_CONN : 0;
  return out;
}

/** FCGI_END_REQUEST: appStatus u32, protocolStatus u8, 3 reserved bytes. */
export function endRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + 8);
  writeEndRequest(out, 0, requestId, appStatus, protocolStatus);
  return out;
}

/** Write a 16-byte END_REQUEST record into `target` at `at`. */
export function writeEndRequest(
  target: Buffer,
  at: number,
  requestId: number,
  appStatus: number,
  protocolStatus: number,
): void {
  writeHeader(target, at, RecordType.EndRequest, requestId, 8, 0);
  target.writeUInt32BE(appStatus >>> 0, at + HEADER_SIZE);
  target[at + HEADER_SIZE + 4] = protocolStatus;
  target[at + HEADER_SIZE + 5] = 0;
  target[at + HEADER_SIZE + 6] = 0;
  target[at + HEADER_SIZE + 7] = 0;
}

/** FCGI_UNKNOWN_TYPE: the type byte we did not understand, 7 reserved bytes. */
export function unknownType(type: number): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + 8);
  writeHeader(out, 0, RecordType.UnknownType, NULL_REQUEST_ID, 8, 0);
  out[HEADER_SIZE] = type;
  return out;
}

/** FCGI_ABORT_REQUEST (empty content). */
export function abortRequest(requestId: number): Buffer {
  return encodeRecord(RecordType.AbortRequest, requestId);
}
