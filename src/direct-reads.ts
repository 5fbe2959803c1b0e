// Reading a socket or a pipe straight from its handle, past Readable.
//
// Node hands every read of a stream socket to Readable: its buffering state, a 'data' event, a
// tick to read more, and a new buffer outside the V8 heap for each read. A socket made with the
// `onread` option reads into a buffer its owner gives and calls one function with the count
// instead; 'end', 'close', 'error', pause() and resume() still work as on any socket. The two
// reads of every request (the web server's connection and the worker's pipe) need none of that
// machinery.
//
// Every such socket reads into the same buffer. That is safe because the loop reads one handle
// at a time and calls the socket's function right after each read, before any other read; the
// function copies the bytes out (a small read into Node's shared pool, as Buffer.allocUnsafe does)
// so that whoever receives them may keep views of them.

import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';

const READ_INTO = Buffer.allocUnsafe(64 * 1024);
const RECEIVER = Symbol('receiver');

type Receive = (chunk: Buffer) => void;

interface DirectSocket extends Socket {
  /**
   * Who gets the reads: null while nobody has asked (a read then goes the usual way, as a 'data'
   * event), false once one has, for good.
   */
  [RECEIVER]: Receive | null | false;
}

/** What a stream socket keeps of its libuv handle (node:net), for adopting a child's pipe. */
interface StreamHandle {
  readStart(): number;
  readStop(): number;
  useUserBuffer(buffer: Uint8Array): void;
  reading?: boolean;
}

/** Returns false to stop reading (Node's contract for `onread`): a full Readable buffer. */
function onRead(this: DirectSocket, nread: number): boolean {
  const chunk = Buffer.allocUnsafe(nread);
  READ_INTO.copy(chunk, 0, 0, nread);
  const receive = this[RECEIVER];
  if (receive) {
    receive(chunk);
    return true;
  }
  this[RECEIVER] = false;
  return this.push(chunk);
}

/** The `onread` option for a socket whose reads go to receiveReads(). */
export const DIRECT_READS = Object.freeze({ buffer: READ_INTO, callback: onRead });

/** Mark a socket just made with DIRECT_READS (before any read can come). */
export function madeForDirectReads(socket: Socket): void {
  (socket as DirectSocket)[RECEIVER] = null;
}

/**
 * Has `receive` get the socket's reads, as its own to keep: true for a socket made with
 * DIRECT_READS and not read yet, whose reads then never become 'data' events; false for any other
 * stream (listen to its 'data' then, as for a socket made with DIRECT_READS that nobody claimed
 * before its first read).
 */
export function receiveReads(stream: unknown, receive: Receive): boolean {
  if (!(stream instanceof Socket) || (stream as DirectSocket)[RECEIVER] !== null) return false;
  (stream as DirectSocket)[RECEIVER] = receive;
  return true;
}

/**
 * A socket that reads `pipe`'s handle directly, for a pipe to a child that child_process made (it
 * makes its own sockets, with no way to pass `onread`): `pipe` stops reading and lets go of the
 * handle, then closes (child_process counts that close for the child's 'close' event), and the
 * new socket owns the handle. Null, with `pipe` untouched, where the pipe is not as this code knows
 * it: read `pipe` as usual then.
 */
export function adoptForDirectReads(pipe: unknown): Socket | null {
  if (!(pipe instanceof Socket) || pipe.readableLength !== 0 || pipe.destroyed) return null;
  const owner = pipe as unknown as { _handle: StreamHandle | null };
  const handle = owner._handle;
  if (
    handle === null ||
    typeof handle !== 'object' ||
    typeof handle.readStart !== 'function' ||
    typeof handle.readStop !== 'function' ||
    typeof handle.useUserBuffer !== 'function'
  ) {
    return null;
  }
  // The new socket starts reading itself; libuv refuses a second start on a reading handle.
  if (handle.reading === true) {
    handle.readStop();
    handle.reading = false;
  }
  owner._handle = null;
  pipe.destroy();
  const socket = new Socket({ handle, readable: true, writable: false, onread: DIRECT_READS } as never);
  madeForDirectReads(socket);
  return socket;
}
