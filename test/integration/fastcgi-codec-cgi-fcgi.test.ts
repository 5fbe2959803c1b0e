// Interop with a real FastCGI client: libfcgi's `cgi-fcgi -bind -connect SOCKET` (Debian
// libfcgi-bin) against a tiny responder built on FastcgiConnection. cgi-fcgi sends its own
// environment as PARAMS in 8,184-byte records, splitting pairs across them, sends its stdin as
// STDIN, copies STDOUT to its stdout and STDERR to its stderr, and exits with END_REQUEST's appStatus.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FastcgiConnection, type FastcgiRequest } from '../../src/fastcgi/connection.js';
import { RecordType } from '../../src/fastcgi/protocol.js';
import { RecordParser } from '../../src/fastcgi/record-parser.js';

const CGI_FCGI = '/usr/bin/cgi-fcgi';

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function runCgiFcgi(socketPath: string, env: Record<string, string>, stdin: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(CGI_FCGI, ['-bind', '-connect', socketPath], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Answers with a JSON summary of what arrived; appStatus comes from QUERY_STRING "status=N". */
function responder(request: FastcgiRequest): void {
  const chunks: Buffer[] = [];
  request.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.stdin.on('end', () => {
    const body = Buffer.concat(chunks);
    const cookie = request.params.HTTP_COOKIE ?? '';
    const summary = JSON.stringify({
      method: request.params.REQUEST_METHOD,
      cookieLength: cookie.length,
      cookieSha: sha(Buffer.from(cookie, 'latin1')),
      bodyLength: body.length,
      bodySha: sha(body),
      names: Object.keys(request.params).length,
    });
    request.writeStderr('responder: done\n');
    request.writeStdout(`Status: 200 OK\r\nContent-Type: application/json\r\n\r\n${summary}`);
    const status = /status=(\d+)/.exec(request.params.QUERY_STRING ?? '');
    request.end(status ? Number(status[1]) : 0);
  });
}

describe.skipIf(!existsSync(CGI_FCGI))('FastcgiConnection behind cgi-fcgi (libfcgi 2.4)', () => {
  let dir: string;
  let socketPath: string;
  let server: net.Server;
  const errors: Error[] = [];
  const sockets = new Set<net.Socket>();
  /** Content sizes of the PARAMS records of the latest connection, seen by a second parser. */
  let paramsRecords: number[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wsgikit-cgi-fcgi-'));
    socketPath = join(dir, 'app.sock');
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      const tap = new RecordParser();
      paramsRecords = [];
      socket.on('data', (chunk: Buffer) =>
        tap.parse(chunk, (r) => {
          if (r.type === RecordType.Params) paramsRecords.push(r.content.length);
        }),
      );
      new FastcgiConnection(socket, { onRequest: responder, onError: (e) => errors.push(e) });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('receives a 20 KB HTTP_COOKIE whole although libfcgi splits it across PARAMS records', async () => {
    let cookie = '';
    for (let i = 0; cookie.length < 20_000; i++) cookie += `k${i}=${'v'.repeat(37)}; `;
    cookie = cookie.slice(0, 20_000);
    const run = await runCgiFcgi(
      socketPath,
      { REQUEST_METHOD: 'GET', HTTP_COOKIE: cookie, SCRIPT_FILENAME: '/srv/app.wsgi', QUERY_STRING: '' },
      Buffer.alloc(0),
    );
    expect(run.code).toBe(0);
    const [head, json] = run.stdout.toString('latin1').split('\r\n\r\n');
    expect(head).toContain('Status: 200 OK');
    const summary = JSON.parse(json!) as Record<string, unknown>;
    expect(summary).toMatchObject({ method: 'GET', cookieLength: 20_000, cookieSha: sha(cookie), bodyLength: 0 });
    expect(run.stderr).toContain('responder: done');
    // The case this test is about: the params came in several records (8,184 bytes at most each).
    expect(paramsRecords.filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(Math.max(...paramsRecords)).toBeLessThanOrEqual(8184);
    expect(errors).toEqual([]);
  });

  it('receives a POST body, answers, and cgi-fcgi exits with the appStatus', async () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 5) & 0xff;
    const run = await runCgiFcgi(
      socketPath,
      {
        REQUEST_METHOD: 'POST',
        CONTENT_LENGTH: String(body.length),
        CONTENT_TYPE: 'application/octet-stream',
        QUERY_STRING: 'status=7',
      },
      body,
    );
    expect(run.code).toBe(7);
    const summary = JSON.parse(run.stdout.toString('latin1').split('\r\n\r\n')[1]!) as Record<string, unknown>;
    expect(summary).toMatchObject({ method: 'POST', bodyLength: body.length, bodySha: sha(body) });
    expect(errors).toEqual([]);
  });
});
