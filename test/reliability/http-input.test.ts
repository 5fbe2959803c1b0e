// Bad input over raw HTTP to the built wsgi-run (bytes on a socket, so nothing is normalised on
// the way): invalid methods, oversized and malformed headers, NUL, dot-segments climbing out,
// %0a, non-UTF-8 bytes (PEP 3333: PATH_INFO is the bytes as latin-1), header injection from the
// app; and a client gone mid-download (the iterable is closed, the worker serves on).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appFolder, eventually, startWsgiRun, type AppFolder, type RunningServer } from '../helpers/wsgi-run.js';
import { dechunk, rawHttp, hangUpAfter } from './lib.js';

const APP = `
import json, os, sys, time

class Endless(object):
    def __iter__(self):
        while True:
            yield b'x' * 65536
    def close(self):
        print('endless closed %d' % os.getpid())
        sys.stdout.flush()

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/crlf':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Evil', 'a\\r\\nSet-Cookie: injected=1')])
        return [b'must not be sent']
    if path == '/nul':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Evil', 'a\\x00b')])
        return [b'must not be sent']
    if path == '/endless':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return Endless()
    print('app saw %r' % path)
    sys.stdout.flush()
    body = json.dumps({
        'path_hex': path.encode('latin-1').hex(),
        'query': environ['QUERY_STRING'],
        'method': environ['REQUEST_METHOD'],
        'pid': os.getpid(),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
`;

const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');

describe('wsgi-run: bad input over raw HTTP', () => {
  let folder: AppFolder;
  let server: RunningServer;
  let port: number;
  let inputs = 0;
  beforeAll(async () => {
    folder = appFolder(APP, { processes: 1 });
    server = await startWsgiRun(folder.app, ['--no-reload']);
    port = Number(new URL(server.url).port);
  });
  afterAll(async () => {
    await server?.stop();
    console.log(`[reliability] http-input: inputs tried ${inputs}`);
  });

  const get = (target: string, headers = '') => {
    inputs++;
    return rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`);
  };
  const seen = (body: Buffer) =>
    JSON.parse(dechunk(body).toString()) as { path_hex: string; query: string; method: string; pid: number };

  it('refuses invalid methods, request lines and header syntax with 400, and oversized headers with 431', async () => {
    const bad = [
      'FOO\x01 / HTTP/1.1\r\nHost: x\r\n\r\n',
      'G ET / HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
      'GET x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
      'GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
    ];
    for (const request of bad) {
      inputs++;
      const res = await rawHttp(port, request);
      expect(res.status, JSON.stringify(request)).toBe(400);
    }
    const huge = await get('/', `X-Big: ${'a'.repeat(20_000)}\r\n`);
    expect(huge.status).toBe(431);
    const many = await get('/', Array.from({ length: 3000 }, (_, i) => `X-H${i}: v\r\n`).join(''));
    expect([400, 431]).toContain(many.status);
    // None of it reached the app, and it still serves.
    expect(folder.log()).not.toContain('app saw');
    expect((await get('/ok')).status).toBe(200);
  });

  it('%00 in the path → 400; %2e%2e climbing above the root → 400, never a path outside', async () => {
    for (const target of ['/a%00b', '/%00', '/a%2500b%00']) {
      const res = await get(target);
      expect(res.status, target).toBe(400);
    }
    for (const target of ['/%2e%2e/%2e%2e/etc/passwd', '/a/%2E%2E/%2e%2e/x', '/../x', '/.%2e/x', '/%2e%2e%2fetc']) {
      const res = await get(target);
      if (res.status === 200) {
        // Decoded %2f is data, not a separator; a 200 must show a path without a climbing "..".
        expect(Buffer.from(seen(res.body).path_hex, 'hex').toString('latin1')).not.toMatch(/(^|\/)\.\.(\/|$)/);
      } else {
        expect([400, 404], target).toContain(res.status);
      }
    }
    // Dot-segments inside the path are resolved, not passed on.
    expect(seen((await get('/a/%2e%2e/b')).body).path_hex).toBe(hex('/b'));
  });

  it('%0a and non-UTF-8 bytes reach the app as PEP 3333 latin-1 strings; the query string stays raw', async () => {
    expect(seen((await get('/a%0ab')).body).path_hex).toBe('2f610a62');
    const res = seen((await get('/%ff%fe/caf%C3%A9?q=%ff&r=%C3%A9')).body);
    expect(res.path_hex).toBe('2ffffe2f636166c3a9');
    expect(res.query).toBe('q=%ff&r=%C3%A9');
  });

  it('header injection from the app (CR/LF or NUL in a header value) is refused: 500, nothing injected, the reason in the log', async () => {
    for (const path of ['/crlf', '/nul']) {
      const res = await get(path, 'Accept: text/plain\r\n');
      expect(res.status, path).toBe(500);
      expect(res.head).not.toMatch(/Set-Cookie|X-Evil/i);
      expect(res.body.toString()).not.toContain('must not be sent');
    }
    await eventually(() => /header X-Evil has a CR, LF or NUL/.test(folder.log()), 'the reason in the log');
    expect((await get('/ok')).status).toBe(200);
  });

  it('a client gone mid-download: close() is called and the same worker serves the next request', async () => {
    await hangUpAfter(port, 'GET /endless HTTP/1.1\r\nHost: x\r\n\r\n', 512 * 1024);
    inputs++;
    const log = await eventually(() => (/endless closed (\d+)/.exec(folder.log()) ? folder.log() : null), 'close()');
    const closedPid = Number(/endless closed (\d+)/.exec(log)![1]);
    // processes = 1: the next request can only be served if that worker went back to the pool.
    const next = seen((await get('/next')).body);
    expect(next.pid).toBe(closedPid);
  });
});
