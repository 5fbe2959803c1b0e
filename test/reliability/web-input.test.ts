// Bad input through the real web servers, as raw bytes on a socket: nginx → wsgi-fcgi (the site
// of docs/nginx.md) and Apache → wsgi-cgi (Action handler, one-shot). Invalid methods, oversized
// headers, %00, %2e%2e, the nginx split-path case with %0a, non-UTF-8 bytes, header injection
// from the app, a client gone mid-download, other-writable and symlinked .wsgi files.

import { chmodSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/wsgi-run.js';
import { e2eDir, removeTempDirs } from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';
import { dechunk, rawHttp, type RawAnswer, hangUpAfter } from './lib.js';
import {
  apacheAvailable,
  nginxAvailable,
  startApacheStack,
  startNginxStack,
  type ApacheStack,
  type NginxStack,
} from './stack.js';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const PROBE = `
import json, os, sys

class Endless(object):
    def __iter__(self):
        while True:
            yield b'x' * 65536
    def close(self):
        print('endless closed %d' % os.getpid())
        sys.stdout.flush()

def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/crlf':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Evil', 'a\\r\\nSet-Cookie: injected=1')])
        return [b'must not be sent']
    if path == '/endless':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return Endless()
    body = json.dumps({
        'script_name': environ['SCRIPT_NAME'],
        'path_hex': path.encode('latin-1').hex(),
        'query': environ['QUERY_STRING'],
        'pid': os.getpid(),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
`;

interface Seen {
  script_name: string;
  path_hex: string;
  query: string;
  pid: number;
}

const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');

function bodyOf(res: RawAnswer): Buffer {
  return /^transfer-encoding:\s*chunked/im.test(res.head) ? dechunk(res.body) : res.body;
}

function logsIn(dir: string): string {
  try {
    return readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
  } catch {
    return '';
  }
}

let inputs = 0;
afterAll(() => {
  console.log(`[reliability] web-input: inputs tried ${inputs}`);
  removeTempDirs();
});

/** The checks both servers must pass; `prefix` is the URL of the probe app. */
function commonChecks(port: () => number, prefix: () => string, log: () => string, server: string) {
  const get = (target: string, headers = '') => {
    inputs++;
    return rawHttp(port(), `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`);
  };
  const seen = async (target: string): Promise<Seen> => {
    const res = await get(target);
    if (res.status !== 200) throw new Error(`${target}: ${res.status}\n${res.head}\n${res.body.toString()}`);
    return JSON.parse(bodyOf(res).toString()) as Seen;
  };

  it(`${server}: refuses an invalid method and an oversized header (4xx from the server), and serves on`, async () => {
    for (const request of [
      'FO\x01O / HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
    ]) {
      inputs++;
      const res = await rawHttp(port(), request);
      expect(res.status, JSON.stringify(request)).toBe(400);
    }
    const huge = await get(`${prefix()}/x`, `X-Big: ${'a'.repeat(70_000)}\r\n`);
    expect([400, 413, 431]).toContain(huge.status);
    expect((await seen(`${prefix()}/after`)).path_hex).toBe(hex('/after'));
  });

  it(`${server}: %00 is refused; %2e%2e never climbs out; non-UTF-8 bytes reach the app as latin-1`, async () => {
    for (const target of [`${prefix()}/a%00b`]) {
      const res = await get(target);
      expect([400, 404], target).toContain(res.status);
    }
    for (const target of [`${prefix()}/%2e%2e/%2e%2e/%2e%2e/etc/passwd`, '/%2e%2e/%2e%2e/etc/passwd']) {
      const res = await get(target);
      expect(res.body.toString()).not.toContain('root:x:0:0');
      if (res.status === 200) {
        const s = JSON.parse(bodyOf(res).toString()) as Seen;
        expect(Buffer.from(s.path_hex, 'hex').toString('latin1')).not.toContain('..');
      } else {
        expect([400, 403, 404], target).toContain(res.status);
      }
    }
    const s = await seen(`${prefix()}/%ff%fe/caf%C3%A9?q=%ff&r=%C3%A9`);
    expect(s.path_hex).toBe('2ffffe2f636166c3a9');
    expect(s.query).toBe('q=%ff&r=%C3%A9');
  });

  it(`${server}: header injection from the app is refused with 500, nothing injected, the reason in the log`, async () => {
    const res = await get(`${prefix()}/crlf`);
    expect(res.status).toBe(500);
    expect(res.head).not.toMatch(/Set-Cookie|X-Evil/i);
    expect(res.body.toString()).not.toContain('must not be sent');
    await eventually(() => /header X-Evil has a CR, LF or NUL/.test(log()), 'the reason in the log');
  });
}

describe.skipIf(!nginxAvailable)('nginx → wsgi-fcgi: bad input', () => {
  let stack: NginxStack;
  let probe: { app: string; logDir: string };
  beforeAll(async () => {
    stack = await startNginxStack('rel-web-nginx');
    probe = stack.add('probe', PROBE, 'processes = 1\n');
  });
  afterAll(() => stack?.stop());
  dumpLogsOnFailure(() => [
    ['nginx', stack?.nginx.errorLog() ?? ''],
    ['wsgi-fcgi', stack?.fcgi.output() ?? ''],
  ]);

  commonChecks(
    () => stack.nginx.port,
    () => '/probe.wsgi',
    () => logsIn(probe.logDir),
    'nginx',
  );

  it('nginx: %0a defeats fastcgi_split_path_info; wsgikit still gives SCRIPT_NAME the .wsgi and PATH_INFO the rest', async () => {
    inputs++;
    const res = await rawHttp(
      stack.nginx.port,
      'GET /probe.wsgi/foo%0abar?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(res.status).toBe(200);
    const s = JSON.parse(bodyOf(res).toString()) as Seen;
    expect(s.script_name).toBe('/probe.wsgi');
    expect(s.path_hex).toBe(hex('/foo\nbar'));
    expect(s.query).toBe('x=1');
  });

  it('nginx: a client gone mid-download: close() is called and the worker serves the next request', async () => {
    await hangUpAfter(stack.nginx.port, 'GET /probe.wsgi/endless HTTP/1.1\r\nHost: x\r\n\r\n', 1024 * 1024);
    inputs++;
    const closed = await eventually(() => /endless closed (\d+)/.exec(logsIn(probe.logDir)), 'close()', 15_000);
    const res = await rawHttp(
      stack.nginx.port,
      'GET /probe.wsgi/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    // processes = 1: served only if that worker went back to the pool.
    expect((JSON.parse(bodyOf(res).toString()) as Seen).pid).toBe(Number(closed[1]));
  });

  it('nginx: a .wsgi writable by others and a symlink out of the root are refused with 403 and a reason', async () => {
    const open = stack.add('open', PROBE);
    chmodSync(open.app, 0o666);
    const outside = e2eDir('rel-web-outside');
    writeFileSync(join(outside, 'target.wsgi'), PROBE, { mode: 0o644 });
    symlinkSync(join(outside, 'target.wsgi'), join(stack.www, 'link.wsgi'));
    for (const target of ['/open.wsgi/x', '/link.wsgi/x']) {
      inputs++;
      const res = await rawHttp(stack.nginx.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(res.status, target).toBe(403);
      expect(res.body.toString()).not.toContain(stack.www);
    }
    await eventually(
      () => stack.fcgi.output().includes(`chmod go-w ${open.app}`) && stack.fcgi.output().includes(outside),
      'the reasons in the server log',
    );
  });
});

describe.skipIf(!apacheAvailable)('Apache → wsgi-cgi: bad input', () => {
  let stack: ApacheStack;
  let probe: { app: string; logDir: string };
  beforeAll(async () => {
    stack = await startApacheStack('rel-web', false);
    probe = stack.add('probe', PROBE, 'cgi_daemon = false\n');
  });
  afterAll(() => stack?.stop());
  dumpLogsOnFailure(() => [['apache', stack?.apache.errorLog() ?? '']]);

  commonChecks(
    () => stack.apache.port,
    () => '/probe.wsgi',
    () => logsIn(probe.logDir),
    'Apache',
  );
});
