// Shared by the reliability tests: a FastCGI request that never throws (it reports how it ended),
// a hosting root with several apps in it, RSS of a process, and raw HTTP over a socket.

import { chownSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fastcgiRequest, type FastcgiTarget } from '../../src/fastcgi/client.js';
import { e2eDir, userIds } from '../helpers/servers.js';

export interface FcgiAnswer {
  /** 'ok': END_REQUEST came; 'refused': no connection was made; 'dropped': connected, then cut off. */
  how: 'ok' | 'refused' | 'dropped';
  status: number;
  head: string;
  body: Buffer;
  error?: string;
}

/** One FastCGI request; resolves however it ends. */
export function fcgi(
  target: FastcgiTarget,
  params: Record<string, string>,
  stdin: Buffer | Readable | null = null,
): Promise<FcgiAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const response = fastcgiRequest(target, { params, stdin });
    let connected = false;
    response.socket.once('connect', () => (connected = true));
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.once('error', (error: Error) => {
      resolve({
        how: connected ? 'dropped' : 'refused',
        status: 0,
        head: '',
        body: Buffer.concat(chunks),
        error: `${(error as NodeJS.ErrnoException).code ?? ''} ${error.message}`,
      });
    });
    response.once('end', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = split === -1 ? all.toString('latin1') : all.subarray(0, split).toString('latin1');
      const status = /^Status: (\d{3})/im.exec(head);
      resolve({
        how: 'ok',
        status: status ? Number(status[1]) : 200,
        head,
        body: split === -1 ? Buffer.alloc(0) : all.subarray(split + 4),
      });
    });
  });
}

/** The CGI variables nginx would send for SCRIPT_FILENAME `app`, with PATH_INFO `path`. */
export function fcgiParams(
  app: string,
  path: string,
  extra: Record<string, string> = {},
  query = '',
): Record<string, string> {
  const script = '/' + app.split('/').pop()!;
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: 'GET',
    SCRIPT_FILENAME: app,
    SCRIPT_NAME: script,
    PATH_INFO: path,
    QUERY_STRING: query,
    REQUEST_URI: `${script}${path}${query ? '?' + query : ''}`,
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '192.0.2.7',
    HTTP_ACCEPT: 'text/plain',
    ...extra,
  };
}

/**
 * A hosting root (`--root`) holding several apps, each `NAME.wsgi` with its sidecar and its own
 * log folder `logs-NAME/`, owned by `user` (the user wsgi-fcgi serves as) so it may write there.
 */
export class HostingRoot {
  readonly dir: string;
  private readonly ids: { uid: number; gid: number } | null;

  constructor(name: string, user: string | null) {
    this.dir = e2eDir(name);
    this.ids = user === null ? null : userIds(user);
  }

  /** Writes NAME.wsgi and NAME.wsgi.toml; `toml` is extra TOML (tables allowed, at the end). */
  add(name: string, source: string, toml = ''): string {
    const app = join(this.dir, `${name}.wsgi`);
    const logDir = this.logDir(name);
    if (!existsSync(logDir)) {
      mkdirSync(logDir, { mode: 0o700 });
      if (this.ids) chownSync(logDir, this.ids.uid, this.ids.gid);
    }
    writeFileSync(app, source, { mode: 0o644 });
    chmodSync(app, 0o644);
    writeFileSync(`${app}.toml`, `log_dir = ${JSON.stringify(logDir)}\n${toml}`, { mode: 0o644 });
    return app;
  }

  logDir(name: string): string {
    return join(this.dir, `logs-${name}`);
  }

  /** All of NAME's log files (rotated ones included), concatenated. */
  log(name: string): string {
    const dir = this.logDir(name);
    if (!existsSync(dir)) return '';
    return readdirSync(dir)
      .filter((f) => /\.log(\.\d+)?$/.test(f))
      .sort()
      .map((f) => {
        try {
          return readFileSync(join(dir, f), 'utf8');
        } catch {
          return '';
        }
      })
      .join('');
  }
}

/** Resident set size of a process in KiB (0 when it is gone). */
export function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The direct children of a process (its Python workers), from /proc. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

export interface RawAnswer {
  status: number;
  head: string;
  body: Buffer;
}

/** Sends `request` as raw bytes to 127.0.0.1:port and reads until the server closes (≤ 10 s). */
/** A client that sends `request` and hangs up once `bytes` of the answer have arrived (a download cut short). */
export function hangUpAfter(port: number, request: string, bytes: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    socket.once('error', reject);
    socket.on('data', (d: Buffer) => {
      received += d.length;
      if (received > bytes) {
        socket.destroy();
        resolve();
      }
    });
    socket.write(request);
  });
}

export function rawHttp(port: number, request: Buffer | string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('raw HTTP request timed out')), 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      const head = (split === -1 ? all : all.subarray(0, split)).toString('latin1');
      resolve({
        status: Number(/^HTTP\/1\.\d (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: split === -1 ? Buffer.alloc(0) : all.subarray(split + 4),
      });
    });
    socket.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  });
}

/** Decodes a chunked HTTP/1.1 body (for raw answers). */
export function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (let guard = 0; guard < 100_000 && at < body.length; guard++) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Like `eventually`, for an async check: polls (≤ `ms`) until it resolves to a truthy value. */
export async function until<T>(
  check: () => Promise<T | null | undefined | false>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(50);
  }
}
