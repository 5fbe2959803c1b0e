// The environ for a request that arrived as plain HTTP (wsgi-run). Builds the same CGI variables
// Apache would, so an app sees the same thing locally as on a host.

import type { IncomingMessage } from 'node:http';
import type { Environ } from '../exchange.js';
import { OutsideMountError, WsgikitError } from '../errors.js';
import { decodePath, removeDotSegments } from './url-path.js';

export interface HttpEnvironOptions {
  /** SCRIPT_NAME: "" for the site root, else "/prefix" without a trailing slash. */
  mount: string;
  serverSoftware: string;
  https: boolean;
}

export function environFromHttp(req: IncomingMessage, options: HttpEnvironOptions): Environ {
  const target = req.url ?? '/';
  let pathStart = 0;
  // Absolute-form targets ("GET http://host/path") are legal for HTTP/1.1 servers.
  if (target[0] !== '/') {
    const scheme = target.indexOf('://');
    if (scheme === -1 && target !== '*') throw badTarget(target);
    pathStart = scheme === -1 ? target.length : target.indexOf('/', scheme + 3);
    if (pathStart === -1) pathStart = target.length;
  }
  const q = target.indexOf('?', pathStart);
  const rawPath = target.slice(pathStart, q === -1 ? undefined : q) || '/';
  const path = removeDotSegments(decodePath(rawPath));

  const { mount } = options;
  let pathInfo: string;
  if (mount === '') {
    pathInfo = path;
  } else if (path === mount || path.startsWith(mount + '/')) {
    pathInfo = path.slice(mount.length);
  } else {
    throw new OutsideMountError(path, mount);
  }

  const socket = req.socket;
  const host = req.headers.host;
  const environ: Environ = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: options.serverSoftware,
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_NAME: host ? hostName(host) : (socket.localAddress ?? '127.0.0.1'),
    SERVER_PORT: String(socket.localPort ?? ''),
    SERVER_ADDR: socket.localAddress ?? '',
    REMOTE_ADDR: socket.remoteAddress ?? '',
    REMOTE_PORT: String(socket.remotePort ?? ''),
    REQUEST_METHOD: req.method ?? 'GET',
    REQUEST_SCHEME: options.https ? 'https' : 'http',
    REQUEST_URI: target.slice(pathStart) || '/',
    SCRIPT_NAME: mount,
    PATH_INFO: pathInfo,
    QUERY_STRING: q === -1 ? '' : target.slice(q + 1),
  };
  if (options.https) environ.HTTPS = 'on';

  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // A header with "_" would collide with its "-" twin in the environ (X_User vs X-User), so
    // one could forge the other; Apache and nginx drop them for that reason.
    if (name.indexOf('_') !== -1) continue;
    const key = cgiName(name);
    const value = raw[i + 1]!;
    if (value.indexOf('\0') !== -1) throw badTarget('header ' + name);
    if (key === 'HTTP_CONTENT_TYPE') environ.CONTENT_TYPE = value;
    else if (key === 'HTTP_CONTENT_LENGTH') environ.CONTENT_LENGTH = value;
    else if (key in environ) environ[key] += (key === 'HTTP_COOKIE' ? '; ' : ', ') + value;
    else environ[key] = value;
  }
  return environ;
}

function cgiName(header: string): string {
  return 'HTTP_' + header.toUpperCase().replace(/-/g, '_');
}

function hostName(host: string): string {
  if (host[0] === '[') {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function badTarget(target: string): WsgikitError {
  return new WsgikitError('WSGIKIT_BAD_REQUEST', `The request target ${JSON.stringify(target)} is not valid.`);
}
