// A stock Apache without suEXEC (docs/apache-cgi.md §5, docs/apache-mod-fcgid.md): CGI (mod_cgid)
// and mod_fcgid run every app as Apache's own user, whose home belongs to root, so the default log
// folder ~/.wsgikit/logs and the CGI daemon's ~/.wsgikit/run cannot be made. The apps have no
// settings at all, as a new user's do. The first request must still be a 200, the app's output must
// reach Apache's error log, and the owner's pages must say where the log is and the command that
// fixes it; after that command the log moves into the folder (and CGI daemon mode starts).
//
// Apache's user is a throwaway one (test/helpers/apache-cgi.ts) with a root-owned home, standing in
// for www-data and /var/www without touching them.
//
// The same host with code its owner uploaded (docs/hosting-guide.md §5): the app belongs to a second
// throwaway user, "alice", and Apache runs it as its own user, through the Action handler with a
// host file of the test's: refused with the setups that work, unless the host file's
// [trusted_owners] lets Apache's user run alice's code.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/wsgi-run.js';
import {
  INCIDENT,
  NODE,
  REPO,
  WSGI_FCGI,
  curl,
  e2eDir,
  findBinary,
  freePort,
  hasApacheModules,
  isRoot,
  removeTempDirs,
  startApache,
  type CurlResult,
  type WebServer,
} from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';
import { daemonPaths } from '../../src/cgi/daemon.js';
import { createTestUser, daemonsOf, installWsgiCgi, type TestUser } from '../helpers/apache-cgi.js';

const MODULES = ['cgid', 'fcgid', 'alias', 'actions', 'dir', 'env'];
const ENV_APP = readFileSync(join(REPO, 'test', 'fixtures', 'e2e-cgi', 'env.wsgi'), 'utf8');
const available =
  isRoot() && hasApacheModules(...MODULES) && findBinary('useradd') !== null && findBinary('curl') !== null;

/** The fix the pages give: `sudo install -d -o USER -g GROUP -m 700 FOLDER…`. */
const FIX = /sudo install -d -o (\S+) -g (\S+) -m 700 ((?:\/[^\s<'"]+ ?)+)/;

describe.skipIf(!available)("stock Apache without suEXEC: the runner's home is not its own", () => {
  let undoLink: () => void = () => {};
  let user: TestUser;
  let alice: TestUser;
  let aliceSite: string;
  let html: string;
  let apache: WebServer;

  const get = (path: string): Promise<CurlResult> => curl(apache.url + path);
  const logsDir = () => join(user.home, '.wsgikit', 'logs');
  function logsNamed(part: string): string {
    if (!existsSync(logsDir())) return '';
    return readdirSync(logsDir())
      .filter((f) => f.includes(part) && f.endsWith('.log'))
      .map((f) => readFileSync(join(logsDir(), f), 'utf8'))
      .join('');
  }

  /** A root-owned file, as an admin who uploads the code leaves it. */
  function rootFile(file: string, text: string, mode: number): void {
    writeFileSync(file, text);
    chmodSync(file, mode);
  }

  beforeAll(async () => {
    undoLink = installWsgiCgi();
    user = createTestUser();
    // www-data's /var/www: the user's home, root's and not writable by the user.
    chownSync(user.home, 0, 0);
    chmodSync(user.home, 0o755);
    html = join(user.home, 'html');
    const apps = join(user.home, 'apps');
    const dir = e2eDir('apache-stock');
    const fcgidDir = join(dir, 'fcgid');
    for (const d of [html, apps]) mkdirSync(d, { mode: 0o755 });
    mkdirSync(fcgidDir, { mode: 0o700 });
    chownSync(fcgidDir, user.uid, user.gid);

    // CGI: a .wsgi with the wsgi-cgi shebang and no settings; owner.wsgi only names its owner.
    rootFile(join(html, 'app.wsgi'), ENV_APP, 0o755);
    rootFile(join(html, 'owner.wsgi'), ENV_APP, 0o755);
    rootFile(join(html, 'owner.wsgi.toml'), 'owner_addresses = ["127.0.0.1"]\n', 0o644);
    // mod_fcgid: the guide's stub for an app outside the web space, again without a log_dir.
    rootFile(join(apps, 'site.wsgi'), ENV_APP, 0o644);
    rootFile(join(apps, 'site.wsgi.toml'), 'owner_addresses = ["127.0.0.1"]\n', 0o644);
    rootFile(
      join(html, 'app.fcgi'),
      `#!/bin/sh\nexec ${NODE} ${WSGI_FCGI} --app ${join(apps, 'site.wsgi')} --root ${apps}\n`,
      0o755,
    );
    // alice's uploaded code, in a folder of hers, run through one Action stub per host file.
    alice = createTestUser();
    const base = join(dir, 'uploads');
    const cgiBin = join(dir, 'cgi-bin');
    aliceSite = join(base, 'alice');
    mkdirSync(base, { mode: 0o755 });
    mkdirSync(cgiBin, { mode: 0o755 });
    mkdirSync(aliceSite, { mode: 0o755 });
    for (const [name, hostLines] of [
      ['plain', ''],
      ['trusting', `[trusted_owners]\n${user.name} = ["${alice.name}"]\n`],
    ] as const) {
      const hostFile = join(dir, `${name}-host.toml`);
      rootFile(hostFile, `allowed_roots = ["${base}"]\n${hostLines}`, 0o644);
      rootFile(join(cgiBin, name), `#!/bin/sh\nexec /usr/local/bin/wsgi-cgi --host-settings ${hostFile}\n`, 0o755);
    }
    writeFileSync(join(aliceSite, 'app.wsgi'), ENV_APP, { mode: 0o644 });
    writeFileSync(join(aliceSite, 'app.wsgi.toml'), 'cgi_daemon = false\n', { mode: 0o644 });
    for (const p of [aliceSite, join(aliceSite, 'app.wsgi'), join(aliceSite, 'app.wsgi.toml')]) {
      chownSync(p, alice.uid, alice.gid);
    }
    const site = `FcgidIPCDir ${fcgidDir}/sock
FcgidProcessTableFile ${fcgidDir}/shm
DocumentRoot ${html}
<Directory />
    Require all denied
</Directory>
<Directory ${html}>
    Options +ExecCGI
    AddHandler cgi-script .wsgi
    AddHandler fcgid-script .fcgi
    Require all granted
</Directory>
<FilesMatch "\\.wsgi\\.toml$">
    Require all denied
</FilesMatch>
ScriptAlias /cgi-bin/ ${cgiBin}/
<Directory ${cgiBin}>
    Require all granted
</Directory>
Alias /plain ${aliceSite}
Alias /trusting ${aliceSite}
<Directory ${aliceSite}>
    Require all granted
    AddHandler wsgi-script .wsgi
</Directory>
<Location /plain>
    Action wsgi-script /cgi-bin/plain
</Location>
<Location /trusting>
    Action wsgi-script /cgi-bin/trusting
</Location>
`;
    apache = await startApache(dir, await freePort(), MODULES, site, { user: user.name });
  });

  afterAll(async () => {
    await apache?.stop();
    // userdel -r removes only a home that belongs to the user.
    if (user) chownSync(user.home, user.uid, user.gid);
    user?.remove();
    alice?.remove();
    removeTempDirs();
    undoLink();
  });

  dumpLogsOnFailure(() => [
    ['apache error log', apache?.errorLog() ?? ''],
    ['app logs', user ? logsNamed('') : ''],
  ]);

  describe('before ~/.wsgikit exists', () => {
    it('CGI: the first request is a 200 and print() reaches the error log, led by the app', async () => {
      const res = await get('/app.wsgi/print');
      expect(res.status, res.body).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ path_info: '/print', uid: user.uid, run_once: true });
      const app = join(html, 'app.wsgi');
      await eventually(
        () => apache.errorLog().includes(`wsgikit ${app}: `) && apache.errorLog().includes('print() from the app'),
        "the app's print() in the error log",
      );
      const log = apache.errorLog();
      expect(log).toContain('raw bytes on fd 2');
      // Why, and the fix, in the same log.
      expect(log).toContain(`sudo install -d -o ${user.name} -g ${user.name} -m 700 ${user.home}/.wsgikit`);
      expect(log).toContain('daemon mode unavailable');
      expect(existsSync(join(user.home, '.wsgikit'))).toBe(false);
    });

    it("CGI: the owner's 500 page says the log is in the error log, and how to fix it", async () => {
      const res = await get('/owner.wsgi/boom');
      expect(res.status).toBe(500);
      expect(res.body).toContain('secret detail 1234');
      expect(res.body).toContain("Log: the web server's error log");
      expect(res.body).toMatch(FIX);
      expect(res.body).toContain('CGI daemon mode is off for now');
      const incident = INCIDENT.exec(res.body)![0];
      await eventually(() => apache.errorLog().includes(`incident ${incident}`), 'the incident in the error log');
    });

    it('CGI: a stranger sees neither the path nor the fix', async () => {
      const res = await get('/app.wsgi/boom');
      expect(res.status).toBe(500);
      expect(res.body).not.toContain(user.home);
      expect(res.body).not.toContain('install -d');
    });

    it('CGI: the status page says it too', async () => {
      const res = await get('/owner.wsgi/.wsgikit/status');
      expect(res.status).toBe(200);
      expect(res.body).toContain('error log for now');
      expect(res.body).toContain('CGI daemon mode is off for now');
      expect(res.body).toMatch(FIX);
    });

    it('mod_fcgid: a 200, print() in the error log, the owner told on the 500 page and the status page', async () => {
      const res = await get('/app.fcgi/print');
      expect(res.status, res.body).toBe(200);
      const app = join(user.home, 'apps', 'site.wsgi');
      await eventually(
        () =>
          apache
            .errorLog()
            .split('\n')
            .some((l) => l.startsWith(`wsgikit ${app}: `) && l.includes('print() from the app')),
        "the app's print() in the error log",
      );
      const boom = await get('/app.fcgi/boom');
      expect(boom.status).toBe(500);
      expect(boom.body).toContain("Log: the web server's error log");
      expect(boom.body).toMatch(FIX);
      expect(boom.body).not.toContain('CGI daemon mode');
      const status = await get('/app.fcgi/.wsgikit/status');
      expect(status.status).toBe(200);
      expect(status.body).toContain('error log for now');
    });
  });

  describe("code another user uploaded (alice's), run as Apache's user", () => {
    it('is refused without [trusted_owners]: 403, and the error log names the setups that work', async () => {
      const res = await get('/plain/app.wsgi/x');
      expect(res.status, res.body).toBe(403);
      expect(res.body).not.toContain(aliceSite);
      // The folder is checked before the file in it: both are alice's.
      const line = await eventually(
        () =>
          apache
            .errorLog()
            .split('\n')
            .find((l) => l.includes(`${aliceSite} belongs to ${alice.name}`)),
        'the refusal in the error log',
      );
      expect(line).toContain(`but this runs as ${user.name} (uid ${user.uid})`);
      expect(line).toContain('it runs only what its own user (or root) wrote');
      expect(line).toContain(`wsgi-fcgi --user ${alice.name}`);
      expect(line).toContain('suEXEC');
      expect(line).toContain('have root own the code');
      expect(line).toContain(`[trusted_owners] ${user.name} = ["${alice.name}"]`);
      expect(line).not.toMatch(/chown \d/);
    });

    it("is served with [trusted_owners] naming alice for Apache's user, as that user", async () => {
      const res = await get('/trusting/app.wsgi/x');
      expect(res.status, res.body).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ path_info: '/x', uid: user.uid });
    });
  });

  describe('after the fix the pages give', () => {
    beforeAll(async () => {
      const page = (await get('/owner.wsgi/boom')).body;
      const [, owner, group, folders] = FIX.exec(page)!;
      execFileSync('install', ['-d', '-o', owner!, '-g', group!, '-m', '700', ...folders!.trim().split(' ')]);
    });

    it('CGI: the log is in ~/.wsgikit/logs, the pages no longer say otherwise, and daemon mode runs', async () => {
      const res = await get('/app.wsgi/print');
      expect(res.status).toBe(200);
      // The app's output reaches its log from the worker's stdout pipe, apart from the answer:
      // it may land a moment after the page.
      await eventually(() => logsNamed('app-').includes('print() from the app'), "print() in the app's log");
      const page = await get('/owner.wsgi/boom');
      expect(page.body).not.toContain('error log for now');
      expect(page.body).not.toContain('install -d');
      expect(page.body).toContain(`${user.home}/.wsgikit/logs/`);
      expect(page.body).not.toContain('CGI daemon mode is off');
      await eventually(async () => {
        const r = await get('/app.wsgi/x');
        return r.status === 200 && (JSON.parse(r.body) as { run_once: boolean }).run_once === false;
      }, 'a request served by the daemon');
      // The user's CGI daemon, on its socket (the mod_fcgid service runs as the user too).
      expect(daemonsOf(user.uid, daemonPaths(user.home, null).socket)).toHaveLength(1);
    });

    it('mod_fcgid: the running service moves its log there too', async () => {
      await eventually(async () => {
        await get('/app.fcgi/print');
        return logsNamed('site-').includes('print() from the app');
      }, 'the service to log into the folder');
      const status = await get('/app.fcgi/.wsgikit/status');
      expect(status.body).not.toContain('error log for now');
    });
  });
});
