// The frame codec of the bridge protocol (PROTOCOL.md): type u8 + length u32 BE + payload.
// Encoding builds each outgoing write as one Buffer; FrameParser cuts frames out of the byte
// stream the way node-postgres' pg-protocol Parser does: one class, one `parse` method, the
// remainder of an incomplete frame kept by offsets, never a Buffer.concat per chunk.

import { Buffer } from 'node:buffer';
import { WsgikitError } from '../errors.js';
import type { Environ, ResponseHeaders } from '../exchange.js';

export const HEADER_SIZE = 5;
/** The largest payload either side may send; a longer frame is a protocol error. */
export const MAX_PAYLOAD = 1024 * 1024;

/** Frame types: the ASCII code of each letter. */
export const FrameType = {
  /** front end → bridge */
  Request: 0x52, // R
  /** A request written to a busy bridge, which runs it only if it claims it first (PROTOCOL.md). */
  Queued: 0x51, // Q
  Body: 0x42, // B (both directions)
  End: 0x45, // E
  Abort: 0x41, // A
  /** bridge → front end */
  Ready: 0x59, // Y
  LoadFailure: 0x46, // F
  Start: 0x53, // S
  AppError: 0x58, // X
  Done: 0x5a, // Z
  /** The bridge skipped a Q that the front end took back. */
  Skipped: 0x4b, // K
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** The frames the bridge sends on fd 4. */
export const FROM_BRIDGE: readonly FrameType[] = [
  FrameType.Ready,
  FrameType.LoadFailure,
  FrameType.Start,
  FrameType.Body,
  FrameType.AppError,
  FrameType.Done,
  FrameType.Skipped,
];
/** The frames the front end sends on fd 3. */
export const TO_BRIDGE: readonly FrameType[] = [
  FrameType.Request,
  FrameType.Queued,
  FrameType.Body,
  FrameType.End,
  FrameType.Abort,
];

const EMPTY = Buffer.alloc(0);

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** The 5-byte header of a frame whose payload is written separately (streamed body pieces). */
export function frameHeader(type: FrameType, length: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header[0] = type;
  header.writeUInt32BE(length, 1);
  return header;
}

/** A whole frame in one Buffer. */
export function encodeFrame(type: FrameType, payload: Uint8Array = EMPTY): Buffer {
  if (payload.length > MAX_PAYLOAD) {
    throw new WsgikitError('WSGIKIT_PROTOCOL', `frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  }
  const frame = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  frame[0] = type;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, HEADER_SIZE);
  return frame;
}

/**
 * Fields joined by NUL, each written as latin-1 (one byte per character: the PEP 3333 byte-string
 * convention used by R and S). A field must not contain NUL; characters above U+00FF do not fit
 * one byte and are a caller's bug (the environ layer guarantees byte strings).
 */
export function encodeFields(fields: readonly string[]): Buffer {
  let size = fields.length === 0 ? 0 : fields.length - 1;
  for (const field of fields) size += field.length;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) out[at++] = 0;
    at += out.write(fields[i]!, at, 'latin1');
  }
  return out;
}

/** Split a payload into its NUL-separated fields (latin-1 for R/S, utf8 for Y/F/X/A/Z text). */
export function decodeFields(payload: Buffer, encoding: 'latin1' | 'utf8' = 'latin1'): string[] {
  return payload.length === 0 ? [] : payload.toString(encoding).split('\0');
}

/** What an S frame says: the status line and the headers. */
export interface StartFields {
  readonly status: string;
  readonly headers: ResponseHeaders;
}

/** The last S payload decoded (a copy: a payload is a view of a read that is not ours to keep). */
let lastStart: (StartFields & { readonly payload: Buffer }) | null = null;

/**
 * An S frame's status and headers. Most of an app's answers repeat their head byte for byte: those
 * are compared, not decoded again, and get the very same headers array (so ResponseHeaders are
 * never changed).
 */
export function decodeStart(payload: Buffer): StartFields {
  if (lastStart !== null && payload.equals(lastStart.payload)) return lastStart;
  const fields = decodeFields(payload, 'latin1');
  const headers: Array<readonly [string, string]> = [];
  for (let i = 1; i + 1 < fields.length; i += 2) headers.push([fields[i]!, fields[i + 1]!]);
  lastStart = { payload: Buffer.from(payload), status: fields[0] ?? '', headers };
  return lastStart;
}

/**
 * The A frame that aborts request number `seq` (the bridge counts R and Q frames from 1).
 */
export function abortFrame(seq: number, reason: string): Buffer {
  return encodeFrame(FrameType.Abort, Buffer.from(`${seq}\0${reason}`, 'utf8'));
}

/**
 * The R (or Q) frame of a request, followed, when given, by `body` as B frames and by E when `end`
 * is set: what the front end writes in one write for a small request. Keys starting with `wsgi.`
 * are skipped (the bridge adds its own). Throws WSGIKIT_BAD_REQUEST if a name or value holds NUL.
 */
export function requestFrame(
  environ: Environ,
  body: Buffer | null = null,
  end = false,
  type: typeof FrameType.Request | typeof FrameType.Queued = FrameType.Request,
  fields?: readonly string[],
): Buffer {
  const payload = (fields !== undefined && joinedFields(fields)) || environPayload(environ);
  const payloadSize = payload.length; // byte strings: one byte per character
  if (payloadSize > MAX_PAYLOAD) {
    throw new WsgikitError(
      'WSGIKIT_BAD_REQUEST',
      `the request's variables take ${payloadSize} bytes, over ${MAX_PAYLOAD}`,
    );
  }
  const bodySize = body === null ? 0 : body.length;
  const bodyFrames = bodySize === 0 ? 0 : Math.ceil(bodySize / MAX_PAYLOAD);
  const out = Buffer.allocUnsafe(
    HEADER_SIZE + payloadSize + bodyFrames * HEADER_SIZE + bodySize + (end ? HEADER_SIZE : 0),
  );
  out[0] = type;
  out.writeUInt32BE(payloadSize, 1);
  let at = HEADER_SIZE + out.write(payload, HEADER_SIZE, payloadSize, 'latin1');
  for (let start = 0; start < bodySize; start += MAX_PAYLOAD) {
    const size = Math.min(MAX_PAYLOAD, bodySize - start);
    out[at] = FrameType.Body;
    out.writeUInt32BE(size, at + 1);
    body!.copy(out, at + HEADER_SIZE, start, start + size);
    at += HEADER_SIZE + size;
  }
  if (end) {
    out[at] = FrameType.End;
    out.writeUInt32BE(0, at + 1);
  }
  return out;
}

/**
 * NAME\0VALUE… from the environ's own fields in order (see AppRequest.environFields), or null when
 * a name is a `wsgi.` key, which the object walk skips. The fields come from a decoder that keeps
 * no NUL, and the bridge keeps the last value of a repeated name, as the object does.
 */
function joinedFields(fields: readonly string[]): string | null {
  for (let i = 0; i < fields.length; i += 2) if (isWsgiKey(fields[i]!)) return null;
  return fields.join('\0');
}

/** A `wsgi.` key. The first character rules out nearly every CGI name for a load, not a call. */
function isWsgiKey(name: string): boolean {
  return name.charCodeAt(0) === 119 && name.startsWith('wsgi.');
}

function environPayload(environ: Environ): string {
  // One string, written with one latin-1 write: a write per name and value costs a crossing into
  // C++ each, which was most of this function's time.
  let payload = '';
  let first = true;
  for (const name in environ) {
    if (isWsgiKey(name)) continue;
    const value = environ[name]!;
    if (name.includes('\0') || value.includes('\0')) {
      throw new WsgikitError('WSGIKIT_BAD_REQUEST', `request variable ${name} contains a NUL character`);
    }
    payload = first ? name + '\0' + value : payload + '\0' + name + '\0' + value;
    first = false;
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

export type FrameCallback = (type: FrameType, payload: Buffer) => void;

/**
 * Cuts frames out of a byte stream. `parse` may be given chunks split anywhere; each complete frame
 * is passed to the callback in order.
 *
 * Payloads are views, never copies, and they stay valid: the parser never writes over bytes it has
 * handed out (a B payload may sit in a socket's write queue long after the callback returned).
 * A frame wholly inside an incoming chunk is a view of that chunk; a frame split across chunks is
 * assembled in the parser's own buffer, which is then lent out and replaced rather than reused.
 *
 * A payload over MAX_PAYLOAD or a type outside the accepted set throws WSGIKIT_PROTOCOL; the
 * parser is then unusable and the channel must be closed.
 */
export class FrameParser {
  private readonly accepts = new Uint8Array(256);
  /** Holds the bytes of an incomplete frame at [offset, offset + length). */
  private buffer: Buffer = EMPTY;
  private offset = 0;
  private length = 0;
  /** Some payload handed out is a view of `buffer`: do not write into what precedes `offset`. */
  private lent = false;

  constructor(accepted: readonly FrameType[] = [...FROM_BRIDGE, ...TO_BRIDGE]) {
    for (const type of accepted) this.accepts[type] = 1;
  }

  parse(chunk: Buffer, callback: FrameCallback): void {
    let buf: Buffer;
    let pos: number;
    if (this.length === 0) {
      buf = chunk; // the common case: nothing held back, work in the chunk itself
      pos = 0;
    } else {
      this.append(chunk);
      buf = this.buffer;
      pos = this.offset;
    }
    const end = buf === chunk ? chunk.length : this.offset + this.length;
    const start = pos;
    while (end - pos >= HEADER_SIZE) {
      const type = buf[pos]!;
      const size = buf.readUInt32BE(pos + 1);
      if (this.accepts[type] !== 1) {
        throw new WsgikitError(
          'WSGIKIT_PROTOCOL',
          `unexpected frame type 0x${type.toString(16).padStart(2, '0')} on the bridge channel`,
        );
      }
      if (size > MAX_PAYLOAD) {
        throw new WsgikitError(
          'WSGIKIT_PROTOCOL',
          `frame ${String.fromCharCode(type)} of ${size} bytes exceeds the ${MAX_PAYLOAD}-byte limit`,
        );
      }
      const frameEnd = pos + HEADER_SIZE + size;
      if (frameEnd > end) break;
      // An empty payload (most Z frames) gets no view of its own.
      callback(type as FrameType, size === 0 ? EMPTY : buf.subarray(pos + HEADER_SIZE, frameEnd));
      pos = frameEnd;
    }
    if (buf === chunk) {
      this.keep(chunk, pos, end);
    } else {
      if (pos > start) this.lent = true;
      this.offset = pos;
      this.length = end - pos;
      if (this.length === 0) this.release();
    }
  }

  /** Keep the unparsed tail of a chunk (nothing was held back before it). */
  private keep(chunk: Buffer, from: number, to: number): void {
    const rest = to - from;
    if (rest === 0) return;
    // Size the buffer for the whole frame when its header is here, so it fills without growing.
    const want = rest >= HEADER_SIZE ? HEADER_SIZE + chunk.readUInt32BE(from + 1) : 64 * 1024;
    if (this.lent || this.buffer.length < want) {
      this.buffer = Buffer.allocUnsafe(Math.max(want, 64 * 1024));
      this.lent = false;
    }
    chunk.copy(this.buffer, 0, from, to);
    this.offset = 0;
    this.length = rest;
  }

  /** Add a chunk after the bytes held back, growing (doubling) or moving them when needed. */
  private append(chunk: Buffer): void {
    const used = this.offset + this.length;
    if (this.buffer.length - used < chunk.length) {
      const needed = this.length + chunk.length;
      if (!this.lent && this.buffer.length >= needed) {
        this.buffer.copy(this.buffer, 0, this.offset, used); // slide down: nothing of it is lent
      } else {
        let size = Math.max(this.buffer.length, 64 * 1024);
        while (size < needed) size *= 2;
        const grown = Buffer.allocUnsafe(size);
        this.buffer.copy(grown, 0, this.offset, used);
        this.buffer = grown;
        this.lent = false;
      }
      this.offset = 0;
    }
    chunk.copy(this.buffer, this.offset + this.length);
    this.length += chunk.length;
  }

  /** Everything held back was consumed: reuse the buffer next time unless part of it is lent. */
  private release(): void {
    this.offset = 0;
    this.length = 0;
    if (this.lent) {
      this.buffer = EMPTY;
      this.lent = false;
    }
  }
}
