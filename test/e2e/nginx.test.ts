// nginx (fastcgi_pass) in front of the built wsgi-fcgi, both real, on 127.0.0.1. The nginx site and
// the wsgi-fcgi command lines are read out of docs/nginx.md: the guide shows what this runs.

import { randomBytes, createHash } from 'node:crypto';
import { chownSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, type AppFolder } from '../helpers/wsgi-run.js';
import {
  acceptedConnections,
  commandFromGuide,
  configFromGuide,
  curl,
  docrootApp,
  e2eDir,
  findBinary,
  fixture,
  freePort,
  groupId,
  isRoot,
  mkdirs,
  removeTempDirs,
  ownedAppFolder,
  startNginx,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';
import { dumpLogsOnFailure, expectFlaskLinks, expectHiddenException } from '../helpers/server-checks.js';

const GUIDE = 'nginx.md';
/** Stands in for the hosting user "alice" of the guide. */
const APP_USER = 'nobody';
const available = findBinary('nginx') !== null && isRoot() && userIds(APP_USER) !== null;

interface Seen {
  SCRIPT_NAME: string;
  PATH_INFO: string;
  PATH_INFO_UTF8: string;
  QUERY_STRING: string;
  REQUEST_METHOD: string;
  url_scheme: string;
  CONTENT_LENGTH: string | null;
  body_length: number;
  body_sha256: string;
  pid: number;
  uid: number;
}

describe.skipIf(!available)('nginx fastcgi_pass → wsgi-fcgi (docs/nginx.md)', () => {
  let dir: string;
  let socket: string;
  let nginx: WebServer;
  let unixFcgi: WsgiFcgi;
  let tcpFcgi: WsgiFcgi;
  let app: AppFolder;
  let deniedPort: number;

  async function get(path: string, args: string[] = []): Promise<Seen> {
    const res = await curl(nginx.url + path, args);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}\n${res.body}`);
    return JSON.parse(res.body) as Seen;
  }

  beforeAll(async () => {
    dir = e2eDir('nginx');
    const www = join(dir, 'public_html');
    const run = join(dir, 'run');
    mkdirs(www, join(www, 'sub'), run);
    const ids = userIds(APP_USER)!;
    // The socket's folder: the app user and the web server's group may enter, nobody else.
    chownSync(run, ids.uid, groupId('www-data') ?? 33);
    socket = join(run, 'fcgi.sock');
    const environ = fixture('environ.wsgi');
    app = docrootApp(www, 'app.wsgi', environ, {}, APP_USER);
    docrootApp(join(www, 'sub'), 'app.wsgi', environ, {}, APP_USER);
    docrootApp(www, 'flask.wsgi', fixture('flask.wsgi'), {}, APP_USER);
    const shop = ownedAppFolder(environ, { mount: '/app' }, APP_USER);
    const report = ownedAppFolder(environ, {}, APP_USER);
    const [port, tcpPort] = [await freePort(), await freePort()];
    deniedPort = await freePort();

    const unix = commandFromGuide(GUIDE, 'wsgi-fcgi-unix', [
      ['/run/wsgikit/alice/fcgi.sock', socket],
      ['/home/alice/public_html', www],
      ['--root /home/alice/apps', `--root ${shop.dir} --root ${report.dir}`],
      ['--user alice', `--user ${APP_USER}`],
    ]);
    const tcp = commandFromGuide(GUIDE, 'wsgi-fcgi-tcp', [
      ['127.0.0.1:9000', `127.0.0.1:${tcpPort}`],
      ['/home/alice/apps/report.wsgi', report.app],
      ['--root /home/alice/apps', `--root ${report.dir}`],
      ['--user alice', `--user ${APP_USER}`],
    ]);
    expect(tcp.env).toEqual({ FCGI_WEB_SERVER_ADDRS: '127.0.0.1' });
    unixFcgi = await startWsgiFcgi(socket, unix.args.slice(2), unix.env);
    tcpFcgi = await startWsgiFcgi(`127.0.0.1:${tcpPort}`, tcp.args.slice(2), tcp.env);
    expect([unix.args[0], tcp.args[0]]).toEqual(['--listen', '--listen']);

    const site = configFromGuide(GUIDE, 'nginx-site', [
      ['/run/wsgikit/alice/fcgi.sock', socket],
      ['127.0.0.1:9000', `127.0.0.1:${tcpPort}`],
      ['listen 80;', `listen 127.0.0.1:${port};`],
      ['/home/alice/public_html', www],
      ['/home/alice/apps/shop.wsgi', shop.app],
    ]);
    // Test only: a second server that reaches the TCP wsgi-fcgi from 127.0.0.2, an address
    // FCGI_WEB_SERVER_ADDRS does not list.
    const denied = `
server {
    listen 127.0.0.1:${deniedPort};
    location / {
        include fastcgi_params;
        fastcgi_bind 127.0.0.2;
        fastcgi_pass 127.0.0.1:${tcpPort};
    }
}`;
    nginx = await startNginx(dir, port, site + denied);
  });

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all([unixFcgi?.stop(), tcpFcgi?.stop()]);
    removeTempDirs();
  });

  dumpLogsOnFailure(() => [
    ['nginx error log', nginx?.errorLog() ?? ''],
    ['wsgi-fcgi (unix)', unixFcgi?.output() ?? ''],
    ['wsgi-fcgi (tcp)', tcpFcgi?.output() ?? ''],
    ['app log', app?.log() ?? ''],
  ]);

  it('fastcgi_split_path_info: SCRIPT_NAME is the .wsgi, PATH_INFO what follows it', async () => {
    const seen = await get('/app.wsgi/foo?x=1');
    expect(seen).toMatchObject({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      QUERY_STRING: 'x=1',
      REQUEST_METHOD: 'GET',
      url_scheme: 'http',
      body_length: 0,
      uid: userIds(APP_USER)!.uid,
    });
    expect(await get('/app.wsgi')).toMatchObject({ SCRIPT_NAME: '/app.wsgi', PATH_INFO: '', QUERY_STRING: '' });
    expect(await get('/sub/app.wsgi/a/b/?q=%20y&r')).toMatchObject({
      SCRIPT_NAME: '/sub/app.wsgi',
      PATH_INFO: '/a/b/',
      QUERY_STRING: 'q=%20y&r',
    });
    expect(await get('/app.wsgi/caf%C3%A9/x%2By')).toMatchObject({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO_UTF8: '/café/x+y',
      QUERY_STRING: '',
    });
  });

  it('does not serve the settings file beside an app', async () => {
    expect((await curl(nginx.url + '/app.wsgi.toml')).status).toBe(403);
  });

  it('an app outside the web space at a prefix, without a split: mount = "/app" in its settings', async () => {
    expect(await get('/app/foo/bar?y=2')).toMatchObject({
      SCRIPT_NAME: '/app',
      PATH_INFO: '/foo/bar',
      QUERY_STRING: 'y=2',
    });
    expect(await get('/app/')).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/', QUERY_STRING: '' });
    const body = randomBytes(5000);
    const file = join(dir, 'small.bin');
    writeFileSync(file, body);
    expect(await get('/app/post', ['--data-binary', `@${file}`])).toMatchObject({
      REQUEST_METHOD: 'POST',
      CONTENT_LENGTH: '5000',
      body_length: 5000,
      body_sha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('TCP 127.0.0.1 with FCGI_WEB_SERVER_ADDRS: served from the listed address, refused from another', async () => {
    expect(await get('/tcp/foo?z')).toMatchObject({ SCRIPT_NAME: '/tcp', PATH_INFO: '/foo', QUERY_STRING: 'z' });
    expect(await get('/tcp/')).toMatchObject({ SCRIPT_NAME: '/tcp', PATH_INFO: '/' });
    // The mount itself: SCRIPT_NAME "/tcp", PATH_INFO "" (as gunicorn with SCRIPT_NAME=/tcp).
    expect(await get('/tcp?z')).toMatchObject({ SCRIPT_NAME: '/tcp', PATH_INFO: '', QUERY_STRING: 'z' });
    expect((await curl(nginx.url + '/tcpx')).status).toBe(404);
    const refused = await curl(`http://127.0.0.1:${deniedPort}/x`);
    expect(refused.status).toBe(502);
    await eventually(
      () => tcpFcgi.output().includes('not in FCGI_WEB_SERVER_ADDRS') && tcpFcgi.output().includes('127.0.0.2'),
      'the refusal in the ops log',
    );
  });

  it('fastcgi_request_buffering off: a chunked upload streams through whole', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const file = join(dir, 'upload.bin');
    writeFileSync(file, body);
    const seen = await get('/app.wsgi/upload', ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`]);
    expect(seen).toMatchObject({
      REQUEST_METHOD: 'POST',
      PATH_INFO: '/upload',
      body_length: body.length,
      body_sha256: createHash('sha256').update(body).digest('hex'),
    });
    // Chunked: nginx sends no length, and the app reads to the end of the body.
    expect(seen.CONTENT_LENGTH ?? '').toBe('');
  });

  it('Flask builds its links under SCRIPT_NAME', async () => {
    // Absolute links carry the port: HTTP_HOST is set to $host:$server_port in the guide.
    await expectFlaskLinks(nginx.url, '/flask.wsgi');
  });

  it('serves 20 fast requests while a slow one holds a worker (no head-of-line blocking)', async () => {
    const gate = join(app.dir, 'gate-hol');
    const before = (app.log().match(/slow started/g) ?? []).length;
    const slow = curl(nginx.url + '/app.wsgi/slow', ['-H', 'X-E2E: slow', '-H', `X-Gate: ${gate}`]);
    await eventually(
      () => (app.log().match(/slow started/g) ?? []).length > before,
      'the slow request to start',
      20_000,
    );
    // The slow request cannot finish before the gate file exists: if the fast ones waited
    // behind it, this loop would hang until the test times out.
    const fast: Seen[] = [];
    for (let i = 0; i < 20; i++) fast.push(await get(`/app.wsgi/fast/${i}`));
    expect(existsSync(gate)).toBe(false);
    writeFileSync(gate, '');
    const slowRes = await slow;
    expect(slowRes.status).toBe(200);
    const slowSeen = JSON.parse(slowRes.body) as Seen;
    expect(slowSeen.PATH_INFO).toBe('/slow');
    fast.forEach((seen, i) => {
      expect(seen.PATH_INFO).toBe(`/fast/${i}`);
      expect(seen.pid).not.toBe(slowSeen.pid);
    });
  });

  it('an exception: a 500 page with an incident id for visitors, the traceback only in the app log', async () => {
    const log = await expectHiddenException(nginx.url + '/app.wsgi/x', () => app.log(), ['RuntimeError', app.app]);
    expect(log).toContain('Traceback');
    // And the next request is served.
    expect(await get('/app.wsgi/after')).toMatchObject({ PATH_INFO: '/after' });
  });

  it('keep-alive: 50 sequential requests, all right, over the FastCGI connection nginx keeps', async () => {
    await get('/app.wsgi/warm');
    const open = acceptedConnections(socket);
    expect(open.size).toBeGreaterThanOrEqual(1);
    expect(open.size).toBeLessThanOrEqual(8 + 2);
    for (let i = 0; i < 50; i++) {
      const seen = await get(`/app.wsgi/seq/${i}?i=${i}`);
      expect([seen.SCRIPT_NAME, seen.PATH_INFO, seen.QUERY_STRING]).toEqual(['/app.wsgi', `/seq/${i}`, `i=${i}`]);
    }
    // Each request went over a connection that was already open: none was opened or closed.
    expect(acceptedConnections(socket)).toEqual(open);
  });
});
