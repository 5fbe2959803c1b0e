// How the FastCGI server's connections are accepted, under Node 20.
//
// net.Server accepts each connection with `new Socket({ handle, allowHalfOpen, ... })`, and the
// Socket constructor copies those options with an object spread before it adds four of its own
// (allowHalfOpen, emitClose, autoDestroy, decodeStrings). In V8 11 (Node 20) the copy a spread
// makes has a map outside V8's transition tree, so each of those additions makes a new map, for
// every socket, and every read of the copy in Duplex and ReadableState then misses its inline
// cache. That is several microseconds of every connection: under mod_fcgid, nginx without
// keep-alive and the CGI launcher's relay to the user's daemon, of every request.
//
// When the options already hold those four, the constructor's stores find them and change no map.
// So the listening handle's accept callback is replaced by one that makes the socket as Node's own
// does, with those options given. Anything but a plain accept (an accept error, a connection over
// server.maxConnections, a diagnostics_channel subscriber to accepted sockets, the noDelay and
// keepAlive server options, which need Node's own symbols) stays Node's own code. V8 12 (Node 22)
// no longer makes those maps: nothing is replaced there.

import { channel } from 'node:diagnostics_channel';
import { Socket, type Server, type SocketConstructorOpts } from 'node:net';
import process from 'node:process';

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

/** Whether this V8 gives a spread's copy a map of its own: 11 and older. */
export const SPREAD_COPIES_DETACHED = Number(process.versions.v8.split('.')[0]) < 12;

/**
 * Has the listening `server` make its sockets with their options complete (see above). Call it
 * once the server listens. False when it left Node's own callback in place: not needed on this
 * Node, or the server is not as this code knows it.
 */
export function acceptWithCompleteOptions(server: Server): boolean {
  const internals = server as unknown as ServerInternals;
  const handle = internals._handle;
  const nodeOwn = handle?.onconnection;
  if (
    !SPREAD_COPIES_DETACHED ||
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
    };
    const socket = new Socket(options as SocketConstructorOpts);
    internals._connections!++;
    const accepted = socket as unknown as AcceptedSocket;
    accepted.server = server;
    accepted._server = server;
    server.emit('connection', socket);
  };
  return true;
}
