// Apache mod_proxy_fcgi (SetHandler for .wsgi files, ProxyPass for a path) in front of the built
// wsgi-fcgi on Unix sockets, both real, on 127.0.0.1. The Apache lines and the wsgi-fcgi command
// lines are read out of docs/apache-mod-proxy-fcgi.md: the guide shows what this runs.

import { createHash, randomBytes } from 'node:crypto';
import { chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppFolder } from '../helpers/wsgi-run.js';
import {
  acceptedConnections,
  commandFromGuide,
  configFromGuide,
  curl,
  docrootApp,
  e2eDir,
  fixture,
  freePort,
  groupId,
  hasApacheModules,
  hasSystemFlask,
  isRoot,
  mkdirs,
  removeTempDirs,
  ownedAppFolder,
  startApache,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';
import { dumpLogsOnFailure, expectFlaskLinks, expectHiddenException } from '../helpers/server-checks.js';

const GUIDE = 'apache-mod-proxy-fcgi.md';
/** Stands in for the hosting user "alice" of the guide. */
const APP_USER = 'nobody';
const available = hasApacheModules('proxy', 'proxy_fcgi') && isRoot() && userIds(APP_USER) !== null;
const flask = hasSystemFlask();

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
}

describe.skipIf(!available)('Apache mod_proxy_fcgi → wsgi-fcgi (docs/apache-mod-proxy-fcgi.md)', () => {
  let dir: string;
  let apache: WebServer;
  let hosting: WsgiFcgi;
  let single: WsgiFcgi;
  let app: AppFolder;
  let sock: string;
  let reportSock: string;
  let startSingle: () => Promise<WsgiFcgi>;

  beforeAll(async () => {
    dir = e2eDir('proxy-fcgi');
    const www = join(dir, 'public_html');
    const run = join(dir, 'run');
    mkdirs(www, join(www, 'sub'), run);
    chownSync(run, userIds(APP_USER)!.uid, groupId('www-data') ?? 33);
    const environ = fixture('environ.wsgi');
    app = docrootApp(www, 'app.wsgi', environ, {}, APP_USER);
    docrootApp(join(www, 'sub'), 'app.wsgi', environ, {}, APP_USER);
    docrootApp(www, 'flask.wsgi', fixture('flask.wsgi'), {}, APP_USER);
    const shop = ownedAppFolder(environ, {}, APP_USER);
    const report = ownedAppFolder(environ, {}, APP_USER);
    sock = join(run, 'fcgi.sock');
    reportSock = join(run, 'report.sock');

    const hostingCmd = commandFromGuide(GUIDE, 'wsgi-fcgi-hosting', [
      ['/run/wsgikit/alice/fcgi.sock', sock],
      ['/home/alice/public_html', www],
      ['--root /home/alice/apps', `--root ${shop.dir}`],
      ['--user alice', `--user ${APP_USER}`],
    ]);
    const singleCmd = commandFromGuide(GUIDE, 'wsgi-fcgi-single', [
      ['/run/wsgikit/alice/report.sock', reportSock],
      ['/home/alice/apps/report.wsgi', report.app],
      ['--root /home/alice/apps', `--root ${report.dir}`],
      ['--user alice', `--user ${APP_USER}`],
    ]);
    hosting = await startWsgiFcgi(sock, hostingCmd.args.slice(2), hostingCmd.env);
    startSingle = () => startWsgiFcgi(reportSock, singleCmd.args.slice(2), singleCmd.env);
    single = await startSingle();

    const site = configFromGuide(GUIDE, 'apache-proxy-fcgi', [
      ['/run/wsgikit/alice/fcgi.sock', sock],
      ['/run/wsgikit/alice/report.sock', reportSock],
      ['/home/alice/public_html', www],
      ['/home/alice/apps/shop.wsgi', shop.app],
    ]);
    apache = await startApache(dir, await freePort(), ['proxy', 'proxy_fcgi'], site);
  });

  afterAll(async () => {
    await apache?.stop();
    await Promise.all([hosting?.stop(), single?.stop()]);
    removeTempDirs();
  });

  dumpLogsOnFailure(() => [
    ['apache error log', apache?.errorLog() ?? ''],
    ['wsgi-fcgi (hosting)', hosting?.output() ?? ''],
    ['wsgi-fcgi (single)', single?.output() ?? ''],
    ['app log', app?.log() ?? ''],
  ]);

  async function get(path: string, args: string[] = []): Promise<Seen> {
    const res = await curl(apache.url + path, args);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}\n${res.body}`);
    return JSON.parse(res.body) as Seen;
  }

  it('SetHandler for .wsgi files: SCRIPT_NAME is the .wsgi, PATH_INFO what follows it', async () => {
    expect(await get('/app.wsgi/foo?x=1')).toMatchObject({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      QUERY_STRING: 'x=1',
      REQUEST_METHOD: 'GET',
      url_scheme: 'http',
    });
    expect(await get('/sub/app.wsgi/a/b/?q=%20y')).toMatchObject({
      SCRIPT_NAME: '/sub/app.wsgi',
      PATH_INFO: '/a/b/',
      QUERY_STRING: 'q=%20y',
    });
    expect(await get('/app.wsgi/caf%C3%A9')).toMatchObject({ SCRIPT_NAME: '/app.wsgi', PATH_INFO_UTF8: '/café' });
  });

  // With SetHandler and no PATH_INFO, SCRIPT_FILENAME is "proxy:fcgi://alice/DOCROOT/app.wsgi":
  // the backend path is the app itself, and the pair Apache sent is right as it is.
  it('SetHandler, a .wsgi with no PATH_INFO: SCRIPT_NAME is the .wsgi, PATH_INFO empty', async () => {
    expect(await get('/app.wsgi')).toMatchObject({ SCRIPT_NAME: '/app.wsgi', PATH_INFO: '' });
  });

  it('does not serve the settings file beside an app', async () => {
    expect((await curl(apache.url + '/app.wsgi.toml')).status).toBe(403);
  });

  it.skipIf(!flask)('Flask builds its links under SCRIPT_NAME', async () => {
    // Absolute links carry the port: mod_proxy_fcgi passes the Host header as HTTP_HOST.
    await expectFlaskLinks(apache.url, '/flask.wsgi');
  });

  it('ProxyPass /p/ to a backend URL naming the app: SCRIPT_NAME /p, PATH_INFO the rest', async () => {
    expect(await get('/p/foo/bar?y=2')).toMatchObject({
      SCRIPT_NAME: '/p',
      PATH_INFO: '/foo/bar',
      QUERY_STRING: 'y=2',
    });
    expect(await get('/p/')).toMatchObject({ SCRIPT_NAME: '/p', PATH_INFO: '/' });
    const body = randomBytes(200 * 1024);
    const file = join(dir, 'body.bin');
    writeFileSync(file, body);
    expect(await get('/p/upload', ['--data-binary', `@${file}`])).toMatchObject({
      REQUEST_METHOD: 'POST',
      CONTENT_LENGTH: String(body.length),
      body_length: body.length,
      body_sha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('ProxyPass /q/ to a single-app wsgi-fcgi: SCRIPT_NAME /q, PATH_INFO the rest', async () => {
    expect(await get('/q/foo?z')).toMatchObject({ SCRIPT_NAME: '/q', PATH_INFO: '/foo', QUERY_STRING: 'z' });
    expect(await get('/q/')).toMatchObject({ SCRIPT_NAME: '/q', PATH_INFO: '/' });
    expect(await get('/q/a/b/c')).toMatchObject({ SCRIPT_NAME: '/q', PATH_INFO: '/a/b/c' });
  });

  it('an exception: a 500 page with an incident id, the traceback in the app log only', async () => {
    await expectHiddenException(apache.url + '/app.wsgi/x', () => app.log());
  });

  it('enablereuse: requests go over the connections Apache keeps, one per Apache process', async () => {
    const forms = ['/app.wsgi/keep', '/p/keep', '/q/keep'];
    for (let i = 0; i < 10; i++) for (const path of forms) await get(path);
    const open = acceptedConnections(sock);
    const openReport = acceptedConnections(reportSock);
    expect(open.size).toBeGreaterThanOrEqual(1);
    expect(openReport.size).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 20; i++) {
      for (const path of forms) expect((await get(`${path}/${i}`)).PATH_INFO).toBe(`/keep/${i}`);
    }
    // None of the kept connections was closed. Each Apache process keeps a pool of its own, and a
    // request that lands in a process which had not served one yet opens that process's first.
    const processes = readFileSync(`/proc/${apache.pid}/task/${apache.pid}/children`, 'utf8').split(' ');
    const processCount = processes.filter((pid) => pid.trim() !== '').length;
    for (const [before, socket] of [
      [open, sock],
      [openReport, reportSock],
    ] as const) {
      const after = acceptedConnections(socket);
      for (const inode of before) expect(after.has(inode)).toBe(true);
      expect(after.size).toBeLessThanOrEqual(processCount);
    }
  });

  it('enablereuse: after wsgi-fcgi restarts, Apache opens new connections and every request is served', async () => {
    await get('/q/before');
    const before = acceptedConnections(reportSock);
    expect(before.size).toBeGreaterThanOrEqual(1);
    await single.stop();
    single = await startSingle();
    for (let i = 0; i < 10; i++) expect((await get(`/q/after/${i}`)).PATH_INFO).toBe(`/after/${i}`);
    const after = acceptedConnections(reportSock);
    expect(after.size).toBeGreaterThanOrEqual(1);
    for (const inode of after) expect(before.has(inode)).toBe(false);
  });
});
