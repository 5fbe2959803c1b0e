// The FastCGI authorizer role end to end: a cookie check written in Python protects a static
// folder (and a CGI script in it, which shows the variable the check passes on), under Apache
// mod_fcgid (the check started from a .fcgi stub) and under lighttpd (wsgi-fcgi on a Unix
// socket). Each server is started once. The app, the stub, the settings and the server lines are
// read out of docs/fastcgi-authorizer.md: the guide shows what this runs.

import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NODE,
  WSGI_FCGI,
  commandFromGuide,
  configFromGuide,
  curl,
  e2eDir,
  findBinary,
  freePort,
  groupId,
  hasApacheModules,
  isRoot,
  mkdirs,
  removeTempDirs,
  startApache,
  startLighttpd,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';

const GUIDE = 'fastcgi-authorizer.md';
const REPORT = 'the quarterly report\n';
const CLOSED = '<p>No entry without the password cookie.</p>';
const ENV_CGI = '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\n"\nenv\n';

/** The site: public_html/private/{report.txt,env.cgi}, the check in auth/, its log folder. */
function site(dir: string, user: string) {
  const www = join(dir, 'public_html');
  const priv = join(www, 'private');
  const auth = join(dir, 'auth');
  const logs = join(dir, 'logs');
  mkdirs(priv, auth, logs);
  const ids = userIds(user)!;
  chownSync(logs, ids.uid, ids.gid);
  writeFileSync(join(priv, 'report.txt'), REPORT, { mode: 0o644 });
  writeFileSync(join(priv, 'env.cgi'), ENV_CGI, { mode: 0o755 });
  writeFileSync(join(auth, 'check.wsgi'), configFromGuide(GUIDE, 'check-app', []), { mode: 0o644 });
  writeFileSync(join(auth, 'check.wsgi.toml'), configFromGuide(GUIDE, 'check-settings', [['/home/alice/logs', logs]]), {
    mode: 0o644,
  });
  return { www, auth, logs };
}

/** The checks both servers must pass; `denied` says what a refusal looks like there. */
function sharedCases(server: () => WebServer) {
  it('with the cookie: the static file', async () => {
    const res = await curl(server().url + '/private/report.txt', ['-H', 'Cookie: theme=dark; pass=open-sesame']);
    expect(res.status).toBe(200);
    expect(res.body).toBe(REPORT);
  });

  it('with the cookie: a CGI script behind the check sees USER=alice (the Variable-USER header)', async () => {
    const res = await curl(server().url + '/private/env.cgi', ['-H', 'Cookie: pass=open-sesame']);
    expect(res.status).toBe(200);
    expect(res.body.split('\n')).toContain('USER=alice');
    // The check's header does not reach the visitor.
    expect(res.headers).not.toMatch(/^Variable-USER:/im);
  });

  it('a wrong cookie is refused, for the file and the script', async () => {
    for (const path of ['/private/report.txt', '/private/env.cgi']) {
      const res = await curl(server().url + path, ['-H', 'Cookie: pass=guess']);
      expect(res.status).not.toBe(200);
      expect(res.body).not.toContain(REPORT.trim());
      expect(res.body).not.toContain('USER=alice');
    }
  });
}

describe.skipIf(!(hasApacheModules('fcgid', 'cgid', 'headers') && isRoot() && userIds('www-data') !== null))(
  'Apache mod_fcgid FcgidAccessChecker → .fcgi stub → wsgi-fcgi (docs/fastcgi-authorizer.md)',
  () => {
    let apache: WebServer;

    beforeAll(async () => {
      const dir = e2eDir('authz-fcgid');
      const { www, auth } = site(dir, 'www-data');
      const fcgid = join(dir, 'fcgid');
      mkdirs(fcgid);
      const ids = userIds('www-data')!;
      chownSync(fcgid, ids.uid, ids.gid);
      writeFileSync(
        join(auth, 'check.fcgi'),
        configFromGuide(GUIDE, 'check-stub', [
          ['/usr/bin/node', NODE],
          ['/usr/lib/node_modules/wsgikit/dist/cli/wsgi-fcgi.js', WSGI_FCGI],
          ['/home/alice/auth', auth],
        ]),
        { mode: 0o755 },
      );
      const lines = configFromGuide(GUIDE, 'apache-authz', [
        ['/var/lib/apache2/fcgid', fcgid],
        ['/home/alice/public_html', www],
        ['/home/alice/auth', auth],
      ]);
      // Harness: mod_cgid's socket in the temp dir.
      apache = await startApache(
        dir,
        await freePort(),
        ['fcgid', 'cgid', 'headers'],
        `ScriptSock ${dir}/cgid.sock\n${lines}`,
      );
    });

    afterAll(async () => {
      await apache?.stop();
      removeTempDirs();
    });

    dumpLogsOnFailure(() => [['apache error log', apache?.errorLog() ?? '']]);

    sharedCases(() => apache);

    it('without the cookie: Apache’s own 401, not the app’s 403; the refusal is in the error log', async () => {
      const res = await curl(apache.url + '/private/report.txt');
      expect(res.status).toBe(401);
      expect(res.body).toContain('<title>401 Unauthorized</title>');
      expect(res.body).not.toContain(CLOSED);
      expect(apache.errorLog()).toMatch(/Access check to access \/private\/report\.txt failed.*status 403/);
    });

    it('outside the folder, no check', async () => {
      const res = await curl(apache.url + '/private-not/');
      expect(res.status).toBe(404);
    });
  },
);

describe.skipIf(!(findBinary('lighttpd') !== null && isRoot() && userIds('nobody') !== null))(
  'lighttpd mod_fastcgi "mode" => "authorizer" → wsgi-fcgi (docs/fastcgi-authorizer.md)',
  () => {
    let lighttpd: WebServer;
    let fcgi: WsgiFcgi;

    beforeAll(async () => {
      const dir = e2eDir('authz-lighttpd');
      const { www, auth } = site(dir, 'nobody');
      const run = join(dir, 'run');
      mkdirs(run);
      chownSync(run, userIds('nobody')!.uid, groupId('www-data') ?? 33);
      const sock = join(run, 'check.sock');
      const { args, env } = commandFromGuide(GUIDE, 'wsgi-fcgi-check', [
        ['/run/wsgikit/alice/check.sock', sock],
        ['/home/alice/auth', auth],
        ['--user alice', '--user nobody'],
      ]);
      fcgi = await startWsgiFcgi(sock, args.slice(2), env);
      const lines = configFromGuide(GUIDE, 'lighttpd-authz', [
        ['/run/wsgikit/alice/check.sock', sock],
        ['/home/alice/public_html', www],
      ]);
      lighttpd = await startLighttpd(dir, await freePort(), www, lines);
    });

    afterAll(async () => {
      await lighttpd?.stop();
      await fcgi?.stop();
      removeTempDirs();
    });

    dumpLogsOnFailure(() => [
      ['lighttpd error log', lighttpd?.errorLog() ?? ''],
      ['wsgi-fcgi', fcgi?.output() ?? ''],
    ]);

    sharedCases(() => lighttpd);

    it('without the cookie: the app’s own 403, its Content-Type and its body', async () => {
      const res = await curl(lighttpd.url + '/private/report.txt');
      expect(res.status).toBe(403);
      expect(res.headers).toMatch(/^Content-Type: text\/html; charset=utf-8\r?$/im);
      expect(res.body).toContain(CLOSED);
    });
  },
);
