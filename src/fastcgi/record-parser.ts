// Cuts FastCGI records out of a byte stream, in the shape of node-postgres' pg-protocol Parser:
// one class, one `parse(chunk, callback)` method, no Buffer.concat per chunk.
//
// Records wholly inside a chunk are handed out as views of that chunk. Only a record split across
// chunks is assembled, in one buffer the parser owns (grown by doubling, at most one record plus
// its padding, 65,798 bytes); the bytes copied are the split record's, never a whole chunk.

import { Buffer } from 'node:buffer';
import { WsgikitError } from '../errors.js';
import { HEADER_SIZE, VERSION } from './protocol.js';

/**
 * One record as the parser hands it out. The parser reuses this object for every record, and
 * `content` may be a view of the parser's own buffer: both are valid only until the callback
 * returns or, at the latest, until the next `parse` call. Callers copy what they keep — or, when
 * `inChunk` is true, they may keep `content` as long as they keep the chunk they passed in (it is
 * then a view of that chunk, which the parser never writes to; an empty `content` is one shared
 * empty Buffer).
 */
export interface FastcgiRecord {
  type: number;
  requestId: number;
  content: Buffer;
  paddingLength: number;
  /** `content` is a view of the chunk given to `parse`, not of the parser's reused buffer. */
  inChunk: boolean;
}

export type RecordCallback = (record: FastcgiRecord) => void;

const EMPTY = Buffer.alloc(0);

/**
 * Validates only what a header can show: the version byte must be 1 (anything else means the
 * stream is not FastCGI or has lost sync), which throws WSGIKIT_PROTOCOL; the parser is then
 * unusable and the connection must be closed. Padding of any length (0–255) is accepted and
 * skipped. Types are not judged here: the connection answers types it does not know.
 */
export class RecordParser {
  /** Bytes of one incomplete record at [0, held). */
  private buffer: Buffer = EMPTY;
  private held = 0;
  /** Total size (header + content + padding) of the held record, once its header is held. */
  private need = 0;
  private readonly record: FastcgiRecord = {
    type: 0,
    requestId: 0,
    content: EMPTY,
    paddingLength: 0,
    inChunk: true,
  };

  /** Bytes held back from previous chunks (an incomplete record). */
  get pending(): number {
    return this.held;
  }

  parse(chunk: Buffer, callback: RecordCallback): void {
    let pos = 0;
    const end = chunk.length;
    if (this.held !== 0) {
      pos = this.complete(chunk);
      if (this.held < HEADER_SIZE || this.held < this.need) return; // the whole chunk was taken
      this.emit(this.buffer, 0, false, callback);
      this.held = 0;
      this.need = 0;
    }
    while (end - pos >= HEADER_SIZE) {
      const size = recordSize(chunk, pos);
      if (pos + size > end) break;
      this.emit(chunk, pos, true, callback);
      pos += size;
    }
    if (pos < end) this.hold(chunk, pos, end);
  }

  private emit(buf: Buffer, at: number, inChunk: boolean, callback: RecordCallback): void {
    const contentLength = (buf[at + 4]! << 8) | buf[at + 5]!;
    const record = this.record;
    record.type = buf[at + 1]!;
    record.requestId = (buf[at + 2]! << 8) | buf[at + 3]!;
    record.paddingLength = buf[at + 6]!;
    // Most requests end two streams with an empty record (PARAMS, STDIN): no view made for those.
    record.content = contentLength === 0 ? EMPTY : buf.subarray(at + HEADER_SIZE, at + HEADER_SIZE + contentLength);
    record.inChunk = inChunk;
    callback(record);
  }

  /** Keep the start of a record that the chunk does not finish. */
  private hold(chunk: Buffer, from: number, to: number): void {
    const rest = to - from;
    this.need = rest >= HEADER_SIZE ? recordSize(chunk, from) : 0;
    this.reserve(Math.max(this.need, HEADER_SIZE));
    chunk.copy(this.buffer, 0, from, to);
    this.held = rest;
  }

  /** Copy from the chunk what the held record still lacks; returns how much of the chunk was used. */
  private complete(chunk: Buffer): number {
    let pos = 0;
    if (this.held < HEADER_SIZE) {
      const take = Math.min(HEADER_SIZE - this.held, chunk.length);
      chunk.copy(this.buffer, this.held, 0, take);
      this.held += take;
      pos = take;
      if (this.held < HEADER_SIZE) return pos;
      this.need = recordSize(this.buffer, 0);
      this.reserve(this.need);
    }
    const take = Math.min(this.need - this.held, chunk.length - pos);
    chunk.copy(this.buffer, this.held, pos, pos + take);
    this.held += take;
    return pos + take;
  }

  /** Grow (doubling) the buffer to at least `size` bytes, keeping what is held. */
  private reserve(size: number): void {
    if (this.buffer.length >= size) return;
    let grown = Math.max(this.buffer.length, 1024);
    while (grown < size) grown *= 2;
    const next = Buffer.allocUnsafe(grown);
    if (this.held !== 0) this.buffer.copy(next, 0, 0, this.held);
    this.buffer = next;
  }
}

/** Header + content + padding of the record whose header starts at `at`; checks the version. */
function recordSize(buf: Buffer, at: number): number {
  const version = buf[at]!;
  if (version !== VERSION) {
    throw new WsgikitError(
      'WSGIKIT_PROTOCOL',
      `FastCGI record with version ${version} (expected ${VERSION}): not a FastCGI stream, or out of sync`,
    );
  }
  return HEADER_SIZE + ((buf[at + 4]! << 8) | buf[at + 5]!) + buf[at + 6]!;
}
