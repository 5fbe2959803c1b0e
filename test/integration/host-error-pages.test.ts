// Host error pages through wsgi-fcgi, with the host.toml and templates of docs/host-error-pages.md:
// wsgikit's own 404/500/503 pages come from the host's templates for strangers and not for the
// owner; override_app_errors replaces an app's 404 body and keeps its headers; a broken template
// gives the built-in page and one line in the server's log.

import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectResponse, fastcgiRequest } from '../../src/fastcgi/client.js';
import { appFolder, eventually, type AppFolder } from '../helpers/wsgi-run.js';

const WSGI_FCGI = fileURLToPath(new URL('../../dist/cli/wsgi-fcgi.js', import.meta.url));
const DOC = readFileSync(new URL('../../docs/host-error-pages.md', import.meta.url), 'utf8');

/** The fenced block after `<!-- e2e: NAME -->` in the doc. */
function block(name: string): string {
  const marker = `<!-- e2e: ${name} -->`;
  const at = DOC.indexOf(marker);
  if (at === -1) throw new Error(`docs/host-error-pages.md has no ${marker}`);
  const m = /```[^\n]*\n([\s\S]*?)\n```/.exec(DOC.slice(at + marker.length));
  if (!m) throw new Error(`no fenced block after ${marker}`);
  return m[1]! + '\n';
}

const APP = `
import os, sys, time

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/raise':
        raise ValueError('secret detail')
    if path == '/crash':
        os._exit(3)
    if path == '/slow':
        gate = environ['QUERY_STRING']
        print('slow started')
        sys.stdout.flush()
        while not os.path.exists(gate):
            time.sleep(0.02)
    if path == '/missing':
        start_response('404 Not Found', [
            ('Content-Type', 'application/json'),
            ('Retry-After', '120'),
            ('X-Custom', 'kept'),
        ])
        return [b'{"error": "app 404"}']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
`;

const OWNER = '10.1.2.3';
const BROKEN_502 = '<p>{{oops}}</p>\n';
const WARNING = 'host error page template not used';

interface Daemon {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  socket: string;
}

interface Answer {
  status: number;
  headers: Map<string, string>;
  body: string;
}

function startFcgi(folder: AppFolder, name: string, hostToml: string): Daemon {
  const hostFile = join(folder.dir, `${name}.toml`);
  writeFileSync(hostFile, hostToml, { mode: 0o644 });
  chmodSync(hostFile, 0o644);
  const socket = join(folder.dir, `${name}.sock`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child = spawn(
    process.execPath,
    [WSGI_FCGI, '--listen', socket, '--root', folder.dir, '--host-settings', hostFile],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited, socket };
}

async function ready(daemon: Daemon): Promise<void> {
  await eventually(() => daemon.output().includes('wsgi-fcgi ready') || daemon.child.exitCode !== null, 'ready');
  if (daemon.child.exitCode !== null) throw new Error(`wsgi-fcgi exited:\n${daemon.output()}`);
}

async function stop(daemon: Daemon | undefined): Promise<void> {
  if (!daemon) return;
  if (daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
  await daemon.exited;
}

function params(folder: AppFolder, path: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    REQUEST_METHOD: 'GET',
    SCRIPT_FILENAME: folder.app,
    SCRIPT_NAME: '/app.wsgi',
    PATH_INFO: path,
    QUERY_STRING: '',
    REQUEST_URI: `/app.wsgi${path}`,
    SERVER_NAME: 'shop.example',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    HTTP_ACCEPT: 'text/html',
    ...extra,
  };
}

async function get(daemon: Daemon, p: Record<string, string>): Promise<Answer> {
  const result = await collectResponse(fastcgiRequest(daemon.socket, { params: p }));
  const text = result.stdout.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  const headers = new Map<string, string>();
  for (const line of text.slice(0, split).split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const status = Number(/^(\d{3})/.exec(headers.get('status') ?? '200')![1]);
  return { status, headers, body: text.slice(split + 4) };
}

function templates(folder: AppFolder): string {
  const dir = join(folder.dir, 'error-pages');
  mkdirSync(dir, { mode: 0o755 });
  for (const [file, text] of [
    ['default.html', block('template-default')],
    ['404.html', block('template-404')],
    ['502.html', BROKEN_502],
  ] as const) {
    writeFileSync(join(dir, file), text, { mode: 0o644 });
    chmodSync(join(dir, file), 0o644);
  }
  return dir;
}

describe('host error pages through wsgi-fcgi', () => {
  let folder: AppFolder;
  let withOverride: Daemon | undefined;
  let withoutOverride: Daemon | undefined;

  beforeAll(async () => {
    folder = appFolder(APP, { processes: 1, queue_size: 0 });
    appendFileSync(folder.app + '.toml', `owner_addresses = [${JSON.stringify(OWNER)}]\n`);
    const dir = templates(folder);
    const hostToml = block('host-toml');
    expect(hostToml).toContain('error_pages = "/etc/wsgikit/error-pages"');
    expect(hostToml).toContain('override_app_errors = true');
    const ours = hostToml.replace('/etc/wsgikit/error-pages', dir);
    withOverride = startFcgi(folder, 'host-override', ours);
    withoutOverride = startFcgi(
      folder,
      'host-plain',
      ours.replace('override_app_errors = true', 'override_app_errors = false'),
    );
    await Promise.all([ready(withOverride), ready(withoutOverride)]);
  });
  afterAll(async () => {
    await stop(withOverride);
    await stop(withoutOverride);
  });

  it("wsgikit's own 404 (no such .wsgi) is the host's 404.html", async () => {
    const res = await get(withOverride!, params(folder, '/', { SCRIPT_FILENAME: join(folder.dir, 'nope.wsgi') }));
    expect(res.status).toBe(404);
    expect(res.body).toContain('<h1>404: nothing at this address</h1>');
    expect(res.body).toContain('<title>Not here · shop.example</title>');
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(res.body)));
  });

  it("wsgikit's own 500: the host's default.html for strangers, the traceback page for the owner", async () => {
    const stranger = await get(withOverride!, params(folder, '/raise'));
    expect(stranger.status).toBe(500);
    expect(stranger.body).toContain('<h1>Application error</h1>');
    expect(stranger.body).toContain('Something went wrong on shop.example (error 500).');
    expect(stranger.body).toMatch(/Incident: <code>[A-Z0-9-]{6,}<\/code>/);
    expect(stranger.body).toContain('Example Hosting');
    expect(stranger.body).not.toContain('secret detail');

    const owner = await get(withOverride!, params(folder, '/raise', { REMOTE_ADDR: OWNER }));
    expect(owner.status).toBe(500);
    expect(owner.body).not.toContain('Example Hosting');
    expect(owner.body).toContain('For the site owner');
    expect(owner.body).toContain('secret detail');
  });

  it("wsgikit's own 503 (the only worker busy, no queue): host page for strangers, not for the owner", async () => {
    const gate = join(folder.dir, 'gate-503');
    const started = (folder.log().match(/slow started/g) ?? []).length;
    const slow = get(withOverride!, params(folder, '/slow', { QUERY_STRING: gate }));
    await eventually(() => (folder.log().match(/slow started/g) ?? []).length > started, 'the slow request');
    try {
      const stranger = await get(withOverride!, params(folder, '/'));
      expect(stranger.status).toBe(503);
      expect(stranger.headers.get('retry-after')).toBe('5');
      expect(stranger.body).toContain('<h1>Too many requests</h1>');
      expect(stranger.body).toContain('Example Hosting');

      const owner = await get(withOverride!, params(folder, '/', { REMOTE_ADDR: OWNER }));
      expect(owner.status).toBe(503);
      expect(owner.body).not.toContain('Example Hosting');
      expect(owner.body).toContain('For the site owner');
    } finally {
      writeFileSync(gate, '');
    }
    expect((await slow).body).toBe('ok');
  });

  it("override_app_errors = true: an app's 404 gets the host's 404 body, its headers kept", async () => {
    const res = await get(withOverride!, params(folder, '/missing'));
    expect(res.status).toBe(404);
    expect(res.headers.get('retry-after')).toBe('120');
    expect(res.headers.get('x-custom')).toBe('kept');
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<h1>404: nothing at this address</h1>');
    expect(res.body).not.toContain('app 404');
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(res.body)));

    // The owner gets the app's own answer.
    const owner = await get(withOverride!, params(folder, '/missing', { REMOTE_ADDR: OWNER }));
    expect(owner.body).toBe('{"error": "app 404"}');
    // And the worker serves on.
    expect((await get(withOverride!, params(folder, '/'))).body).toBe('ok');
  });

  it("override_app_errors = false: the app's own 404 body", async () => {
    const res = await get(withoutOverride!, params(folder, '/missing'));
    expect(res.status).toBe(404);
    expect(res.headers.get('retry-after')).toBe('120');
    expect(res.headers.get('x-custom')).toBe('kept');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.body).toBe('{"error": "app 404"}');
  });

  it('a broken template (502.html with {{oops}}): the built-in page, and one line in the ops log', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await get(withOverride!, params(folder, '/crash'));
      expect(res.status).toBe(502);
      expect(res.body).toContain('<!doctype html>');
      expect(res.body).toContain('Application process ended');
      expect(res.body).not.toContain('Example Hosting');
      expect(res.headers.get('content-security-policy')).toBeDefined();
    }
    const lines = withOverride!
      .output()
      .split('\n')
      .filter((line) => line.includes(WARNING));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('502.html');
    expect(lines[0]).toContain('unknown placeholder {{oops}}');
  });
});
