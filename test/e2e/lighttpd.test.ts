// lighttpd (mod_fastcgi) in front of the built wsgi-fcgi on Unix sockets, both real, on 127.0.0.1.
// The lighttpd lines, the app settings and the wsgi-fcgi command lines are read out of
// docs/lighttpd.md: the guide shows what this runs.

import { createHash, randomBytes } from 'node:crypto';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppFolder } from '../helpers/wsgi-run.js';
import {
  commandFromGuide,
  configFromGuide,
  curl,
  e2eDir,
  findBinary,
  fixture,
  freePort,
  groupId,
  hasSystemFlask,
  isRoot,
  mkdirs,
  removeTempDirs,
  ownedAppFolder,
  startLighttpd,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';
import { dumpLogsOnFailure, expectFlaskLinks, expectHiddenException } from '../helpers/server-checks.js';

const GUIDE = 'lighttpd.md';
/** Stands in for the hosting user "alice" of the guide. */
const APP_USER = 'nobody';
const available = findBinary('lighttpd') !== null && isRoot() && userIds(APP_USER) !== null;
const flask = hasSystemFlask();

interface Seen {
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  REQUEST_METHOD: string;
  url_scheme: string;
  CONTENT_LENGTH: string | null;
  body_length: number;
  body_sha256: string;
}

describe.skipIf(!available)('lighttpd mod_fastcgi → wsgi-fcgi (docs/lighttpd.md)', () => {
  let dir: string;
  let lighttpd: WebServer;
  const fcgis: WsgiFcgi[] = [];
  let root: AppFolder;
  /** Ports of the second and third site: "/" with mount = "", and "/" with neither fix. */
  let mountUrl: string;
  let neitherUrl: string;
  /** A fourth: the guide's site with a Flask app as the "/app" one. */
  let flaskUrl: string;

  beforeAll(async () => {
    dir = e2eDir('lighttpd');
    const www = join(dir, 'htdocs');
    const run = join(dir, 'run');
    mkdirs(www, run);
    chownSync(run, userIds(APP_USER)!.uid, groupId('www-data') ?? 33);
    const environ = fixture('environ.wsgi');
    const settings = configFromGuide(GUIDE, 'site-settings', []);
    expect(settings).toBe('mount = ""\n');
    root = ownedAppFolder(environ, {}, APP_USER);
    const shop = ownedAppFolder(environ, {}, APP_USER);
    const site = ownedAppFolder(environ, { mount: '' }, APP_USER);
    const flaskApp = ownedAppFolder(fixture('flask.wsgi'), {}, APP_USER);
    const sock = (name: string) => join(run, `${name}.sock`);

    const command = (block: string, name: string, app: AppFolder) =>
      commandFromGuide(GUIDE, block, [
        [`/run/wsgikit/alice/${block.slice('wsgi-fcgi-'.length)}.sock`, sock(name)],
        [`/home/alice/apps/${block.slice('wsgi-fcgi-'.length)}.wsgi`, app.app],
        ['--root /home/alice/apps', `--root ${app.dir}`],
        ['--user alice', `--user ${APP_USER}`],
      ]);
    for (const [block, name, app] of [
      ['wsgi-fcgi-root', 'root', root],
      ['wsgi-fcgi-shop', 'shop', shop],
      // The mount = "" app runs from the same command line as the root one.
      ['wsgi-fcgi-root', 'site', site],
      // The Flask app runs from the same command line as the "/app" one.
      ...(flask ? ([['wsgi-fcgi-shop', 'flask', flaskApp]] as const) : []),
    ] as const) {
      const { args, env } = command(block, name, app);
      fcgis.push(await startWsgiFcgi(sock(name), args.slice(2), env));
    }

    const [port, mountPort, neitherPort, flaskPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    mountUrl = `http://127.0.0.1:${mountPort}`;
    neitherUrl = `http://127.0.0.1:${neitherPort}`;
    flaskUrl = `http://127.0.0.1:${flaskPort}`;
    const main = configFromGuide(GUIDE, 'lighttpd-site', [
      ['/run/wsgikit/alice/shop.sock', sock('shop')],
      ['/run/wsgikit/alice/root.sock', sock('root')],
    ]);
    const rootMount = (socket: string) =>
      configFromGuide(GUIDE, 'lighttpd-root-mount', [['/run/wsgikit/alice/site.sock', socket]]);
    // Test only: the second form on a second port, on a third the root app (no mount) with neither
    // fix, and on a fourth the guide's site again with the Flask app at "/app" (the module line
    // is left out: lighttpd loads modules at the top level only).
    const flaskSite = configFromGuide(GUIDE, 'lighttpd-site', [
      ['server.modules += ( "mod_fastcgi" )\n', ''],
      ['/run/wsgikit/alice/shop.sock', sock('flask')],
      ['/run/wsgikit/alice/root.sock', sock('root')],
    ]);
    const extra = `
$SERVER["socket"] == "127.0.0.1:${mountPort}" {
${rootMount(sock('site'))}
}
$SERVER["socket"] == "127.0.0.1:${neitherPort}" {
${rootMount(sock('root'))}
}
${flask ? `$SERVER["socket"] == "127.0.0.1:${flaskPort}" {\n${flaskSite}}\n` : ''}`;
    lighttpd = await startLighttpd(dir, port, www, main + extra);
  });

  afterAll(async () => {
    await lighttpd?.stop();
    await Promise.all(fcgis.map((f) => f.stop()));
    removeTempDirs();
  });

  dumpLogsOnFailure(() => [
    ['lighttpd error log', lighttpd?.errorLog() ?? ''],
    ...fcgis.map((f, i): [string, string] => [`wsgi-fcgi ${i}`, f.output()]),
    ['root app log', root?.log() ?? ''],
  ]);

  async function get(url: string, args: string[] = []): Promise<Seen> {
    const res = await curl(url, args);
    if (res.status !== 200) throw new Error(`${url}: ${res.status}\n${res.body}`);
    return JSON.parse(res.body) as Seen;
  }

  it('"/" with fix-root-scriptname: SCRIPT_NAME "", PATH_INFO the whole path', async () => {
    expect(await get(lighttpd.url + '/foo/bar?x=1')).toMatchObject({
      SCRIPT_NAME: '',
      PATH_INFO: '/foo/bar',
      QUERY_STRING: 'x=1',
      REQUEST_METHOD: 'GET',
      url_scheme: 'http',
    });
    expect(await get(lighttpd.url + '/')).toMatchObject({ SCRIPT_NAME: '', PATH_INFO: '/' });
    expect(await get(lighttpd.url + '/one')).toMatchObject({ SCRIPT_NAME: '', PATH_INFO: '/one' });
  });

  it('"/app" prefix: SCRIPT_NAME /app, PATH_INFO the rest', async () => {
    expect(await get(lighttpd.url + '/app/foo/bar?y=2')).toMatchObject({
      SCRIPT_NAME: '/app',
      PATH_INFO: '/foo/bar',
      QUERY_STRING: 'y=2',
    });
    expect(await get(lighttpd.url + '/app/')).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/' });
    expect(await get(lighttpd.url + '/app')).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '' });
  });

  it('"/" without fix-root-scriptname, mount = "" in the settings: SCRIPT_NAME "", PATH_INFO the whole path', async () => {
    expect(await get(mountUrl + '/foo/bar?x=1')).toMatchObject({
      SCRIPT_NAME: '',
      PATH_INFO: '/foo/bar',
      QUERY_STRING: 'x=1',
    });
    expect(await get(mountUrl + '/')).toMatchObject({ SCRIPT_NAME: '', PATH_INFO: '/' });
    expect(await get(mountUrl + '/one')).toMatchObject({ SCRIPT_NAME: '', PATH_INFO: '/one' });
  });

  it('"/" with neither: the app sees lighttpd’s split at the first segment (what the guide warns of)', async () => {
    expect(await get(neitherUrl + '/foo/bar')).toMatchObject({ SCRIPT_NAME: '/foo', PATH_INFO: '/bar' });
  });

  it.skipIf(!flask)('Flask at the "/app" prefix builds its links under SCRIPT_NAME', async () => {
    // Absolute links carry the port: lighttpd passes the Host header as HTTP_HOST.
    await expectFlaskLinks(flaskUrl, '/app');
  });

  it('a POST body, declared and chunked, reaches the app whole', async () => {
    const body = randomBytes(2 * 1024 * 1024 + 5);
    const file = join(dir, 'upload.bin');
    writeFileSync(file, body);
    const sha = createHash('sha256').update(body).digest('hex');
    for (const args of [[], ['-H', 'Transfer-Encoding: chunked']]) {
      expect(await get(lighttpd.url + '/app/upload', ['--data-binary', `@${file}`, ...args])).toMatchObject({
        REQUEST_METHOD: 'POST',
        body_length: body.length,
        body_sha256: sha,
      });
    }
  });

  it('an exception: a 500 page with an incident id, the traceback in the app log only', async () => {
    await expectHiddenException(lighttpd.url + '/x', () => root.log());
  });
});
