// How the FastCGI server's connections are accepted: each socket reads straight into our own
// buffer (src/direct-reads.ts), and under Node 20 its options are complete.
//
// net.Server makes each socket with `new Socket({ handle, allowHalfOpen, ... })`, which leaves no
// way to pass `onread`. And in V8 11 (Node 20) the Socket constructor's copy of those options (an
// object spread) has a map outside V8's transition tree, so each of the four options it then adds
// (allowHalfOpen, emitClose, autoDestroy, decodeStrings) makes a new map, for every socket, and
// every read of the copy in Duplex and ReadableState misses its inline cache: several
// microseconds of every connection under mod_fcgid, nginx without keep-alive and the CGI
// launcher's relay to the user's daemon. When the options already hold those four, the
// constructor's stores find them and change no map.
//
// So the listening handle's accept callback is replaced by one that makes the socket as Node's own
// does, with those options given and `onread` set. Anything but a plain accept (an accept error, a
// connection over server.maxConnections, a diagnostics_channel subscriber to accepted sockets, the
// noDelay and keepAlive server options, which need Node's own symbols) stays Node's own code.

import { channel } from 'node:diagnostics_channel';
import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import { DIRECT_READS, madeForDirectReads } from '../direct-reads.js';

/** The listening handle's accept callback: a libuv status (0: a new connection) and its handle. */
type OnConnection = (this: unknown, status: number, clientHandle?: unknown) => void;

/** What net.Server keeps for its own accept callback (node:net onconnection). */
interface ServerInternals {
  _handle?: { onconnection?: OnConnection } | null;
  _connections?: number;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  highWaterMark?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
}

/** What Node's accept callback also sets on the socket, for server.close() and getConnections(). */
interface AcceptedSocket {
  server: Server;
  _server: Server;
}

/** Where Node publishes each socket a server accepts. */
const acceptedSockets = channel('net.server.socket');

/**
 * Has the listening `server` make its sockets for direct reads, with their options complete (see
 * above). Call it once the server listens. False when it left Node's own callback in place: the
 * server is not as this code knows it.
 */
export function acceptWithDirectReads(server: Server): boolean {
  const internals = server as unknown as ServerInternals;
  const handle = internals._handle;
  const nodeOwn = handle?.onconnection;
  if (
    !handle ||
    typeof nodeOwn !== 'function' ||
    typeof internals._connections !== 'number' ||
    internals.noDelay === true ||
    internals.keepAlive === true
  ) {
    return false;
  }
  handle.onconnection = function (this: unknown, status: number, clientHandle?: unknown): void {
    const full = server.maxConnections > 0 && internals._connections! >= server.maxConnections;
    if (status !== 0 || clientHandle === undefined || full || acceptedSockets.hasSubscribers) {
      nodeOwn.call(this, status, clientHandle);
      return;
    }
    const options = {
      handle: clientHandle,
      allowHalfOpen: internals.allowHalfOpen === true,
      pauseOnCreate: internals.pauseOnConnect === true,
      readable: true,
      writable: true,
      readableHighWaterMark: internals.highWaterMark,
      writableHighWaterMark: internals.highWaterMark,
      emitClose: false,
      autoDestroy: true,
      decodeStrings: false,
      onread: DIRECT_READS,
    };
    const socket = new Socket(options as SocketConstructorOpts);
    madeForDirectReads(socket);
    internals._connections!++;
    const accepted = socket as unknown as AcceptedSocket;
    accepted.server = server;
    accepted._server = server;
    server.emit('connection', socket);
  };
  return true;
}
