// wsgi-fcgi's roles, through fastcgiResponder over a real socket pair with a stub app directory:
// an FCGI_AUTHORIZER request reaches the app (FCGI_ROLE=AUTHORIZER, no body, no CONTENT_LENGTH)
// and its answer goes back unchanged, Variable-* headers included; FILTER still gets UNKNOWN_ROLE.

import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppRequest, ResponseSink } from '../../src/exchange.js';
import { collectResponse, fastcgiRequest } from '../../src/fastcgi/client.js';
import { ProtocolStatus, Role } from '../../src/fastcgi/protocol.js';
import { fastcgiResponder } from '../../src/fastcgi/responder.js';
import { silentOpsLog } from '../../src/ops-log.js';
import type { AppDirectory } from '../../src/pool/app-directory.js';

type App = (request: AppRequest, sink: ResponseSink) => void;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** fastcgiResponder on a Unix socket; every request runs `app` in place of a pool. */
async function serve(app: App): Promise<{ path: string; seen: AppRequest[] }> {
  const seen: AppRequest[] = [];
  const settings = { mount: null, explain: false, tracebacks: 'never', maxBodyBytes: 1024, ownerTokenSha256: null };
  const pool = {
    handle(request: AppRequest, sink: ResponseSink) {
      seen.push(request);
      app(request, sink);
    },
    log: { write() {} },
  };
  const directory = { lookup: () => ({ resolved: { settings, logFile: null }, pool }) } as unknown as AppDirectory;
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-authz-'));
  const path = join(dir, 'fcgi.sock');
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    fastcgiResponder({ directory, fixedApp: '/srv/apps/check.wsgi', ops: silentOpsLog, maxConns: 10 })(socket);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  return { path, seen };
}

const PARAMS = {
  GATEWAY_INTERFACE: 'CGI/1.1',
  REQUEST_METHOD: 'GET',
  REQUEST_URI: '/private/report.txt',
  SERVER_NAME: '127.0.0.1',
  SERVER_PORT: '80',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REMOTE_ADDR: '127.0.0.1',
  HTTP_COOKIE: 'pass=open-sesame',
};

function answer(status: string, headers: Array<[string, string]>, body: string): App {
  return (_request, sink) => {
    sink.start(status, headers);
    sink.write(Buffer.from(body));
    sink.end();
  };
}

describe('wsgi-fcgi roles', () => {
  it('runs an AUTHORIZER request with FCGI_ROLE=AUTHORIZER, the cookies, and no body', async () => {
    const { path, seen } = await serve(answer('200 OK', [['Variable-USER', 'alice']], ''));
    const res = await collectResponse(
      fastcgiRequest(path, {
        role: Role.Authorizer,
        // A server that sends CONTENT_LENGTH and a body anyway: the app is given neither.
        params: { ...PARAMS, CONTENT_LENGTH: '5' },
        stdin: Buffer.from('hello'),
      }),
    );
    expect(res.protocolStatus).toBe(ProtocolStatus.RequestComplete);
    expect(res.stdout.toString('latin1')).toBe('Status: 200 OK\r\nVariable-USER: alice\r\n\r\n');
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request!.environ.FCGI_ROLE).toBe('AUTHORIZER');
    expect(request!.environ.HTTP_COOKIE).toBe('pass=open-sesame');
    expect(request!.environ.CONTENT_LENGTH).toBeUndefined();
    expect(request!.body).toBeNull();
    expect(request!.contentLength).toBeNull();
  });

  it('passes a denial on unchanged: status, headers and body', async () => {
    const page = '<!doctype html><title>No</title><p>Not for you.</p>\n';
    const headers: Array<[string, string]> = [['Content-Type', 'text/html; charset=utf-8']];
    const { path } = await serve(answer('403 Forbidden', headers, page));
    const res = await collectResponse(fastcgiRequest(path, { role: Role.Authorizer, params: PARAMS }));
    expect(res.stdout.toString('latin1')).toBe(
      `Status: 403 Forbidden\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${page}`,
    );
  });

  it('RESPONDER requests are as before: no FCGI_ROLE, the body streams', async () => {
    const { path, seen } = await serve((request, sink) => {
      const chunks: Buffer[] = [];
      request.body!.on('data', (c: Buffer) => chunks.push(c));
      request.body!.on('end', () => answer('200 OK', [], Buffer.concat(chunks).toString())(request, sink));
    });
    const res = await collectResponse(
      fastcgiRequest(path, { params: { ...PARAMS, CONTENT_LENGTH: '5' }, stdin: Buffer.from('hello') }),
    );
    expect(res.stdout.toString('latin1')).toBe('Status: 200 OK\r\n\r\nhello');
    expect(seen[0]!.environ.FCGI_ROLE).toBeUndefined();
    expect(seen[0]!.contentLength).toBe(5);
  });

  it('answers FILTER with FCGI_UNKNOWN_ROLE and never runs the app', async () => {
    const { path, seen } = await serve(answer('200 OK', [], 'no'));
    const res = await collectResponse(fastcgiRequest(path, { role: Role.Filter, params: PARAMS }));
    expect(res.protocolStatus).toBe(ProtocolStatus.UnknownRole);
    expect(res.stdout.length).toBe(0);
    expect(seen).toHaveLength(0);
  });
});
