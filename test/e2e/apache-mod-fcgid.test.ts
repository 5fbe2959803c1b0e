// Apache mod_fcgid spawning the built wsgi-fcgi from a .fcgi stub (the listening socket on fd 0),
// both real, on 127.0.0.1. The stub, the app's settings and the Apache lines are read out of
// docs/apache-mod-fcgid.md: the guide shows what this runs.

import { createHash, randomBytes } from 'node:crypto';
import { chownSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/wsgi-run.js';
import {
  INCIDENT,
  NODE,
  WSGI_FCGI,
  configFromGuide,
  curl,
  e2eDir,
  fixture,
  freePort,
  hasApacheModules,
  hasSystemFlask,
  isRoot,
  mkdirs,
  removeTempDirs,
  startApache,
  userIds,
  type WebServer,
} from '../helpers/servers.js';
import { dumpLogsOnFailure, expectFlaskLinks, expectHiddenException } from '../helpers/server-checks.js';

const GUIDE = 'apache-mod-fcgid.md';
const available = hasApacheModules('fcgid') && isRoot() && userIds('www-data') !== null;
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
  uid: number;
}

describe.skipIf(!available)('Apache mod_fcgid → .fcgi stub → wsgi-fcgi on fd 0 (docs/apache-mod-fcgid.md)', () => {
  let dir: string;
  let apache: WebServer;
  let logDir: string;
  let appLog: () => string;

  beforeAll(async () => {
    dir = e2eDir('fcgid');
    const www = join(dir, 'public_html');
    const apps = join(dir, 'apps');
    const fcgid = join(dir, 'fcgid');
    logDir = join(dir, 'logs');
    mkdirs(www, apps, fcgid, logDir);
    const ids = userIds('www-data')!;
    chownSync(fcgid, ids.uid, ids.gid);
    chownSync(logDir, ids.uid, ids.gid);
    const paths: Array<[string, string]> = [
      ['/home/alice/apps', apps],
      ['/home/alice/logs', logDir],
      ['/home/alice/public_html', www],
      ['/var/lib/apache2/fcgid', fcgid],
    ];
    const used = (block: string) => paths.filter(([from]) => block.includes(from));
    const guided = (name: string, extra: Array<[string, string]> = []) => {
      const raw = configFromGuide(GUIDE, name, []);
      return configFromGuide(GUIDE, name, [...extra, ...used(raw)]);
    };

    // One stub per app, as the guide shows: app.fcgi runs site.wsgi, flask.fcgi the Flask app.
    for (const [stub, app, source] of [
      ['app.fcgi', 'site.wsgi', 'environ.wsgi'],
      ['flask.fcgi', 'flask.wsgi', 'flask.wsgi'],
    ] as const) {
      writeFileSync(join(apps, app), fixture(source), { mode: 0o644 });
      writeFileSync(join(apps, `${app}.toml`), guided('fcgid-settings'), { mode: 0o644 });
      writeFileSync(
        join(www, stub),
        guided('fcgi-stub', [
          ['/usr/bin/node', NODE],
          ['/usr/lib/node_modules/wsgikit/dist/cli/wsgi-fcgi.js', WSGI_FCGI],
          ['/home/alice/apps/site.wsgi', join(apps, app)],
        ]),
        { mode: 0o755 },
      );
    }
    appLog = () => {
      // site.wsgi's log (the Flask app logs beside it): the file name ends "site-HASH.log".
      const name = readdirSync(logDir).find((f) => /(^|_)site-[0-9a-f]+\.log$/.test(f));
      return name ? readFileSync(join(logDir, name), 'utf8') : '';
    };
    apache = await startApache(dir, await freePort(), ['fcgid'], guided('apache-fcgid'));
  });

  afterAll(async () => {
    await apache?.stop();
    removeTempDirs();
  });

  dumpLogsOnFailure(() => [
    ['apache error log', apache?.errorLog() ?? ''],
    ['app log', appLog?.() ?? ''],
  ]);

  async function get(path: string, args: string[] = []): Promise<Seen> {
    const res = await curl(apache.url + path, args);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}\n${res.body}`);
    return JSON.parse(res.body) as Seen;
  }

  function post(path: string, body: Buffer, args: string[] = []) {
    const file = join(dir, `body-${body.length}.bin`);
    writeFileSync(file, body);
    return curl(apache.url + path, ['--data-binary', `@${file}`, ...args]);
  }

  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('SCRIPT_NAME is the stub, PATH_INFO what follows it; the app runs as www-data', async () => {
    expect(await get('/app.fcgi/foo?x=1')).toMatchObject({
      SCRIPT_NAME: '/app.fcgi',
      PATH_INFO: '/foo',
      QUERY_STRING: 'x=1',
      REQUEST_METHOD: 'GET',
      url_scheme: 'http',
      uid: userIds('www-data')!.uid,
    });
    expect(await get('/app.fcgi')).toMatchObject({ SCRIPT_NAME: '/app.fcgi', PATH_INFO: '', QUERY_STRING: '' });
    expect(await get('/app.fcgi/a/b/?q=%20y')).toMatchObject({ PATH_INFO: '/a/b/', QUERY_STRING: 'q=%20y' });
  });

  it('a body over mod_fcgid’s default 128 KiB reaches the app under the raised FcgidMaxRequestLen', async () => {
    const body = randomBytes(300 * 1024);
    const res = await post('/app.fcgi/upload', body);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      CONTENT_LENGTH: String(body.length),
      body_length: body.length,
      body_sha256: sha256(body),
    });
    // Chunked: mod_fcgid reads the whole body first and sends its length.
    const chunked = await post('/app.fcgi/upload', body, ['-H', 'Transfer-Encoding: chunked']);
    expect(JSON.parse(chunked.body)).toMatchObject({ body_length: body.length, body_sha256: sha256(body) });
  });

  it('over max_body_mb but under FcgidMaxRequestLen: wsgikit answers 413 with its own page', async () => {
    const res = await post('/app.fcgi/upload', randomBytes(700 * 1024), ['-H', 'Accept: text/plain']);
    expect(res.status).toBe(413);
    expect(res.body).toContain('at most 512 KiB');
  });

  it('over FcgidMaxRequestLen: Apache answers 500 itself and the request never reaches wsgikit', async () => {
    const before = appLog();
    const res = await post('/app.fcgi/upload', randomBytes(2 * 1024 * 1024));
    expect(res.status).toBe(500);
    expect(res.body).not.toMatch(INCIDENT);
    await eventually(() => /exceeds MaxRequestLen/.test(apache.errorLog()), 'mod_fcgid’s line in the error log');
    expect(appLog()).toBe(before);
  });

  it('an exception: a 500 page with an incident id, the traceback in the app log only', async () => {
    await expectHiddenException(apache.url + '/app.fcgi/x', () => appLog());
  });

  it.skipIf(!flask)('Flask, from its own stub, builds its links under SCRIPT_NAME', async () => {
    // Absolute links carry the port: mod_fcgid passes the Host header as HTTP_HOST.
    await expectFlaskLinks(apache.url, '/flask.fcgi');
  });

  it('serves 20 sequential requests from the spawned process', async () => {
    for (let i = 0; i < 20; i++) {
      expect(await get(`/app.fcgi/seq/${i}?i=${i}`)).toMatchObject({ PATH_INFO: `/seq/${i}`, QUERY_STRING: `i=${i}` });
    }
  });
});
