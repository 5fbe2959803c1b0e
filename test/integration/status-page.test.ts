// The owner's status page and restart action end to end: through wsgi-run (HTTP, where the
// developer is always the owner), through wsgi-fcgi (FastCGI, with owner_addresses and an owner
// token deciding who is the owner; the CGI daemon is this same responder), and rendered by a real
// headless Chromium (Debian's `chromium`, installed by .ci/run) whose screenshot is checked for
// the chart and whose DOM is checked for the workers table.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectResponse, fastcgiRequest } from '../../src/fastcgi/client.js';
import { readPng } from '../helpers/png.js';
import { appFolder, eventually, startWsgiRun, type AppFolder, type RunningServer } from '../helpers/wsgi-run.js';

const WSGI_FCGI = fileURLToPath(new URL('../../dist/cli/wsgi-fcgi.js', import.meta.url));

const APP = `
import os, time

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/boom':
        raise RuntimeError('boom <b>bold</b>')
    if path == '/slow':
        time.sleep(float(environ.get('QUERY_STRING') or '0.05'))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
`;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function tokenFrom(html: string): string {
  const m = /name="token" value="([0-9a-f]+)"/.exec(html);
  if (!m) throw new Error('no restart token in the page');
  return m[1]!;
}

describe('the status page under wsgi-run', () => {
  let folder: AppFolder;
  let server: RunningServer;
  let host: string;
  beforeAll(async () => {
    folder = appFolder(APP, { processes: 2 });
    server = await startWsgiRun(folder.app);
    host = new URL(server.url).host;
    // Some traffic for the counters and charts: fast, slow, and a failure with an incident.
    for (let i = 0; i < 20; i++) await http(`${server.url}/pid`);
    await Promise.all([http(`${server.url}/slow?0.3`), http(`${server.url}/slow?0.1`)]);
    expect((await http(`${server.url}/boom`)).status).toBe(500);
  });
  afterAll(async () => {
    await server?.stop();
    if (folder) rmSync(folder.dir, { recursive: true, force: true });
  });

  it('shows the owner workers, counters, charts, and the incident (HTML)', async () => {
    const pid = (await http(`${server.url}/pid`)).body;
    const res = await http(`${server.url}/.wsgikit/status`, { headers: { Accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<table class="workers">');
    expect(res.body).toContain(`<td>${pid}</td>`);
    expect(res.body.match(/<svg class="chart"/g)).toHaveLength(2);
    expect(res.body).toContain('<rect class="ok"');
    expect(res.body).toContain('<rect class="c5"');
    // The incident: its id, and its summary (the request and the error) escaped.
    expect(res.body).toMatch(/<code>[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}<\/code>: GET \/boom/);
    expect(res.body).not.toContain('<b>bold</b>');
  });

  it('gives tools JSON with ?format=json and with Accept: application/json', async () => {
    for (const [url, accept] of [
      [`${server.url}/.wsgikit/status?format=json`, '*/*'],
      [`${server.url}/.wsgikit/status`, 'application/json'],
    ] as const) {
      const res = await http(url, { headers: { Accept: accept } });
      expect(res.status).toBe(200);
      const data = JSON.parse(res.body);
      expect(data.app).toBe(folder.app);
      expect(data.metrics.totals.requests).toBeGreaterThanOrEqual(23);
      expect(data.metrics.totals.byClass[5]).toBeGreaterThanOrEqual(1);
      expect(data.metrics.incidents).toHaveLength(1);
      expect(data.workers.length).toBeGreaterThanOrEqual(1);
    }
  });

  it('refuses a restart without the token (403), from another origin (403), and by GET (405)', async () => {
    const token = tokenFrom((await http(`${server.url}/.wsgikit/status`)).body);
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const restart = `${server.url}/.wsgikit/restart`;
    const noToken = await http(restart, { method: 'POST', headers: { ...form, Origin: `http://${host}` }, body: '' });
    expect(noToken.status).toBe(403);
    const crossOrigin = await http(restart, {
      method: 'POST',
      headers: { ...form, Origin: 'http://evil.example' },
      body: `token=${token}`,
    });
    expect(crossOrigin.status).toBe(403);
    const get = await http(restart);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
  });

  it('restarts on POST with the token from the same origin: new requests get new workers', async () => {
    const before = (await http(`${server.url}/pid`)).body;
    const token = tokenFrom((await http(`${server.url}/.wsgikit/status`)).body);
    const res = await http(`${server.url}/.wsgikit/restart`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: `http://${host}` },
      body: `token=${token}`,
    });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/.wsgikit/status?restarted=1');
    const after = (await http(`${server.url}/pid`)).body;
    expect(after).toMatch(/^\d+$/);
    expect(after).not.toBe(before);
    const data = JSON.parse((await http(`${server.url}/.wsgikit/status?format=json`)).body);
    expect(data.generation).toBe(2);
    expect(data.metrics.restarts[0]).toMatchObject({ pid: null, reason: 'restart requested on the status page' });
    // The old worker may still be listed while it exits (a loaded machine takes a moment), but
    // only as stopping: it serves nothing more.
    const old = data.workers.find((w: { pid: number }) => String(w.pid) === before);
    if (old) expect(old.state).toBe('stopping');
    await eventually(() => folder.log().includes('reloading the app: restart requested'), 'the reload in the log');
  });
});

// --- FastCGI -------------------------------------------------------------------------------------

const OWNER_ADDRESS = '10.1.2.3';
const OWNER_TOKEN = 'c0ffee00c0ffee00c0ffee00c0ffee00';

describe('the status page under wsgi-fcgi (owner by address or token)', () => {
  let folder: AppFolder;
  let child: ChildProcess;
  let socket: string;
  let out = '';
  beforeAll(async () => {
    folder = appFolder(APP, { processes: 2 });
    const sha = createHash('sha256').update(OWNER_TOKEN).digest('hex');
    appendFileSync(`${folder.app}.toml`, `owner_addresses = ["${OWNER_ADDRESS}"]\nowner_token_sha256 = "${sha}"\n`);
    socket = join(folder.dir, 'fcgi.sock');
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    child = spawn(process.execPath, [WSGI_FCGI, '--listen', socket, '--app', folder.app], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await eventually(() => out.includes('wsgi-fcgi ready') || child.exitCode !== null, 'wsgi-fcgi to start');
    if (child.exitCode !== null) throw new Error(`wsgi-fcgi exited:\n${out}`);
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (folder) rmSync(folder.dir, { recursive: true, force: true });
  });

  async function fcgi(
    path: string,
    extra: Record<string, string> = {},
    body?: string,
  ): Promise<{ status: number; head: string; body: string }> {
    const params: Record<string, string> = {
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      SCRIPT_FILENAME: folder.app,
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: path,
      QUERY_STRING: '',
      SERVER_NAME: 'localhost',
      SERVER_PORT: '80',
      SERVER_PROTOCOL: 'HTTP/1.1',
      HTTP_HOST: 'localhost',
      REMOTE_ADDR: '127.0.0.1',
      HTTP_ACCEPT: 'text/html',
      ...extra,
    };
    if (body !== undefined) params.CONTENT_LENGTH = String(Buffer.byteLength(body));
    const stdin = body === undefined ? null : Buffer.from(body);
    const result = await collectResponse(fastcgiRequest(socket, { params, stdin }));
    const text = result.stdout.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    const head = text.slice(0, split);
    const status = /^Status: (\d{3})/m.exec(head);
    return { status: status ? Number(status[1]) : 200, head, body: text.slice(split + 4) };
  }

  const owner = { REMOTE_ADDR: OWNER_ADDRESS };
  const post = (origin: string) => ({
    ...owner,
    REQUEST_METHOD: 'POST',
    CONTENT_TYPE: 'application/x-www-form-urlencoded',
    HTTP_ORIGIN: origin,
  });

  it('gives a stranger the plain 404, on every wsgikit URL and method', async () => {
    await fcgi('/pid');
    for (const [path, method] of [
      ['/.wsgikit/status', 'GET'],
      ['/.wsgikit/restart', 'GET'],
      ['/.wsgikit/restart', 'POST'],
    ] as const) {
      const res = await fcgi(path, { REQUEST_METHOD: method, HTTP_ORIGIN: 'http://localhost' }, '');
      expect(res.status).toBe(404);
      expect(res.body).toContain('There is no application at this address.');
      expect(res.body).not.toMatch(/wsgikit|restart|worker/i);
    }
  });

  it('shows the owner (by address) the workers table and charts', async () => {
    const pid = (await fcgi('/pid')).body;
    const res = await fcgi('/.wsgikit/status', owner);
    expect(res.status).toBe(200);
    expect(res.body).toContain(`<td>${pid}</td>`);
    expect(res.body.match(/<svg class="chart"/g)).toHaveLength(2);
    expect(res.body).toContain('<form method="post" action="/app.wsgi/.wsgikit/restart">');
  });

  it('refuses restarts: GET 405, no token 403, cross-origin 403', async () => {
    const token = tokenFrom((await fcgi('/.wsgikit/status', owner)).body);
    expect((await fcgi('/.wsgikit/restart', owner)).status).toBe(405);
    expect((await fcgi('/.wsgikit/restart', post('http://localhost'), 'token=')).status).toBe(403);
    expect((await fcgi('/.wsgikit/restart', post('http://evil.example'), `token=${token}`)).status).toBe(403);
  });

  it('restarts on POST with the token from the same origin: new pids', async () => {
    const before = (await fcgi('/pid')).body;
    const token = tokenFrom((await fcgi('/.wsgikit/status', owner)).body);
    const res = await fcgi('/.wsgikit/restart', post('http://localhost'), `token=${token}`);
    expect(res.status).toBe(303);
    expect(res.head).toMatch(/^Location: \/app\.wsgi\/\.wsgikit\/status\?restarted=1$/m);
    const after = (await fcgi('/pid')).body;
    expect(after).toMatch(/^\d+$/);
    expect(after).not.toBe(before);
    const page = await fcgi('/.wsgikit/status', { ...owner, QUERY_STRING: 'restarted=1' });
    expect(page.body).toContain('Restart requested');
    expect(page.body).toContain('all workers: restart requested on the status page');
  });

  it('signs the owner in by token: the login sets the cookie, and the cookie opens the page', async () => {
    const wrong = await fcgi('/.wsgikit/login', { QUERY_STRING: 'token=ffffffffffffffffffffffffffffffff' });
    expect(wrong.status).toBe(404);
    expect(wrong.head).not.toMatch(/Set-Cookie/i);
    const login = await fcgi('/.wsgikit/login', { QUERY_STRING: `token=${OWNER_TOKEN}` });
    expect(login.status).toBe(200);
    expect(login.head).toMatch(
      new RegExp(
        `^Set-Cookie: wsgikit_owner=${OWNER_TOKEN}; Path=/app\\.wsgi; Max-Age=\\d+; HttpOnly; SameSite=Strict$`,
        'm',
      ),
    );
    expect(login.body).toContain('url=/app.wsgi/.wsgikit/status');
    const page = await fcgi('/.wsgikit/status', { HTTP_COOKIE: `wsgikit_owner=${OWNER_TOKEN}` });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<table class="workers">');
  });
});

// --- a real browser ------------------------------------------------------------------------------

function findChromium(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return null;
}

const CHROMIUM = findChromium();
const WIDTH = 1200;
const HEIGHT = 900;

function runChromium(args: string[]): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      CHROMIUM!,
      args,
      { timeout: 60_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve({ stdout })),
    );
  });
}

describe.skipIf(CHROMIUM === null)('the status page in headless Chromium (wsgi-run, loopback)', () => {
  let folder: AppFolder;
  let server: RunningServer;
  let profiles: string;
  beforeAll(async () => {
    folder = appFolder(APP, { processes: 2 });
    profiles = mkdtempSync(join(tmpdir(), 'wsgikit-chromium-'));
    server = await startWsgiRun(folder.app);
    for (let i = 0; i < 30; i++) await http(`${server.url}/pid`);
    await Promise.all([http(`${server.url}/slow?0.2`), http(`${server.url}/slow?0.4`)]);
    await http(`${server.url}/boom`);
  });
  afterAll(async () => {
    await server?.stop();
    if (folder) rmSync(folder.dir, { recursive: true, force: true });
    if (profiles) rmSync(profiles, { recursive: true, force: true });
  });

  function flags(name: string): string[] {
    return [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${mkdtempSync(join(profiles, `${name}-`))}`,
      `--window-size=${WIDTH},${HEIGHT}`,
    ];
  }

  it('renders the workers table and both SVG charts (--dump-dom)', { timeout: 90_000 }, async () => {
    const { stdout } = await runChromium([...flags('dom'), '--dump-dom', `${server.url}/.wsgikit/status`]);
    expect(stdout).toContain('<table class="workers">');
    expect(stdout).toMatch(/<td>\d+<\/td><td><span class="state (idle|busy)">/);
    expect(stdout.match(/<svg class="chart"/g)).toHaveLength(2);
    expect(stdout).toContain('<rect class="ok"');
    expect(stdout).toMatch(/<(polyline|circle) class="p95"/);
  });

  it('draws the chart: the screenshot is the window size and the bars are there', { timeout: 90_000 }, async () => {
    const file = join(profiles, 'status.png');
    await runChromium([...flags('shot'), `--screenshot=${file}`, `${server.url}/.wsgikit/status`]);
    expect(existsSync(file)).toBe(true);
    if (process.env.WSGIKIT_SCREENSHOT) writeFileSync(process.env.WSGIKIT_SCREENSHOT, readFileSync(file));
    const png = readPng(readFileSync(file));
    expect([png.width, png.height]).toEqual([WIDTH, HEIGHT]);

    // Not blank: the background is the commonest colour, and plenty of pixels differ from it.
    const counts = new Map<number, number>();
    for (let i = 0; i < png.pixels.length; i += 4) {
      const key = (png.pixels[i]! << 16) | (png.pixels[i + 1]! << 8) | png.pixels[i + 2]!;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const [background] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
    const other = WIDTH * HEIGHT - counts.get(background)!;
    expect(other / (WIDTH * HEIGHT)).toBeGreaterThan(0.02);

    // The request bars (#3b82f6): more of them than the legend's key square, inside one chart area
    // that differs from the background, on the first screen.
    const near = (x: number, y: number, [r, g, b]: number[]) => {
      const [pr, pg, pb] = png.at(x, y);
      return Math.abs(pr - r!) + Math.abs(pg - g!) + Math.abs(pb - b!) < 30;
    };
    let bars = 0;
    const columns = new Array<number>(WIDTH).fill(0);
    for (let y = 0; y < HEIGHT; y++) {
      for (let x = 0; x < WIDTH; x++) {
        if (!near(x, y, [0x3b, 0x82, 0xf6])) continue;
        bars++;
        columns[x]!++;
      }
    }
    expect(bars).toBeGreaterThan(400);
    // A bar is a tall column of blue (the legend's key square is about 13 pixels high), and the
    // newest bars stand at the right of the chart, at "now".
    const tallest = Math.max(...columns);
    expect(tallest).toBeGreaterThan(40);
    let lastBar = -1;
    columns.forEach((n, x) => {
      if (n > 40) lastBar = x;
    });
    expect(lastBar).toBeGreaterThan(WIDTH / 2);
  });
});
