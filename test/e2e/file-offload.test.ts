// Files handed to the web server (docs/file-offload.md), with the real servers on 127.0.0.1: nginx
// X-Accel-Redirect to an internal location, Apache mod_xsendfile behind mod_fcgid and
// mod_proxy_fcgi, lighttpd x-sendfile. Each server runs the guide's configuration, once. A file
// the app may send comes from the server (it answers a Range request with 206, which wsgikit's own
// sending never does); anything else is a 403 whose incident id stands in the app's log. Also
// records what each server does with a CGI local redirect (200 + Location, no body).

import { chmodSync, chownSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppFolder } from '../helpers/wsgi-run.js';
import {
  INCIDENT,
  NODE,
  WSGI_FCGI,
  commandFromGuide,
  configFromGuide,
  curl,
  dumpLogsOnFailure,
  e2eDir,
  findBinary,
  fixture,
  freePort,
  groupId,
  hasApacheModules,
  isRoot,
  mkdirs,
  ownedAppFolder,
  removeTempDirs,
  startApache,
  startLighttpd,
  startNginx,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';

const GUIDE = 'file-offload.md';
/** Stands in for the hosting user "alice" of the guide where wsgi-fcgi drops to a user. */
const APP_USER = 'nobody';
const APP_BODY = 'THE-APP-BODY';

/** alice's home: the app, the files it names, and a file it must not. */
interface Home {
  folder: AppFolder;
  files: string;
  /** A file outside every root. */
  outside: string;
  big: string;
}

/** A home like the guide's /home/alice, whose log folder `user` may write. */
function makeHome(user: string): Home {
  const folder = ownedAppFolder(fixture('sendfile.wsgi'), {}, user);
  const files = join(folder.dir, 'files');
  mkdirs(files, join(files, 'sub'));
  // Large enough that its first bytes are not its whole; plain text, as curl's body is decoded.
  const big = 'wsgikit offload line\n'.repeat(100_000);
  writeFileSync(join(files, 'big.txt'), big, { mode: 0o644 });
  writeFileSync(join(files, 'private.txt'), 'owner only\n', { mode: 0o600 });
  writeFileSync(join(files, ODD_NAME), 'an odd name\n', { mode: 0o644 });
  writeFileSync(join(files, PERCENT_NAME), 'a percent\n', { mode: 0o644 });
  chmodSync(join(files, 'private.txt'), 0o600);
  const elsewhere = e2eDir('offload-outside');
  const outside = join(elsewhere, 'secret.txt');
  writeFileSync(outside, 'outside the roots\n', { mode: 0o644 });
  symlinkSync(outside, join(files, 'link-out.txt'));
  return { folder, files, outside, big };
}

/** Names with what URIs treat specially: a space and a "?"; and a literal "%41". */
const ODD_NAME = 'a b?.txt';
const PERCENT_NAME = 'a%41.txt';

const q = (key: string, value: string) => `?${key}=${encodeURIComponent(value)}`;

/**
 * The cases every server must pass. `base()`: the URL prefix of the app behind that server;
 * `accel`: the internal URI prefix, for nginx.
 */
function offloadCases(home: () => Home, base: () => string, accel?: string): void {
  async function expectServed(query: string): Promise<void> {
    const { files, big } = home();
    const whole = await curl(base() + query);
    expect(whole.status, whole.body.slice(0, 400)).toBe(200);
    expect(whole.body.length).toBe(big.length);
    expect(whole.body === big).toBe(true);
    // The server's own file handling answers a range; wsgikit's sending would give the whole 200.
    const part = await curl(base() + query, ['-r', '0-9']);
    expect(part.status).toBe(206);
    expect(part.body).toBe(big.slice(0, 10));
    expect(files).toBeTruthy();
  }

  async function expectRefused(query: string, why: RegExp): Promise<void> {
    const res = await curl(base() + query);
    expect(res.status, res.body.slice(0, 400)).toBe(403);
    expect(res.body).not.toContain(APP_BODY);
    expect(res.body).not.toContain('outside the roots');
    const incident = INCIDENT.exec(res.body)?.[0];
    expect(incident, 'the page shows an incident id').toBeDefined();
    const line = home()
      .folder.log()
      .split('\n')
      .find((l) => l.includes(`incident ${incident}`));
    expect(line, `the app's log has incident ${incident}`).toBeDefined();
    expect(line).toContain('file not sent');
    expect(line).toMatch(why);
  }

  it('an allowed X-Sendfile is sent by the web server, without the app body', async () => {
    await expectServed(q('x-sendfile', join(home().files, 'big.txt')));
  });

  it('wsgi.file_wrapper over a regular file is handed to the web server too', async () => {
    await expectServed(q('wrap', join(home().files, 'big.txt')));
  });

  it('a file with a space and a "?" in its name is sent as itself', async () => {
    const res = await curl(base() + q('x-sendfile', join(home().files, ODD_NAME)));
    expect(res.status, res.body.slice(0, 400)).toBe(200);
    expect(res.body).toBe('an odd name\n');
  });

  if (accel !== undefined) {
    it('a "%" in a name is %-encoded in the X-Accel-Redirect, and nginx sends that file', async () => {
      const res = await curl(base() + q('x-sendfile', join(home().files, PERCENT_NAME)));
      expect(res.status, res.body.slice(0, 400)).toBe(200);
      expect(res.body).toBe('a percent\n');
    });
  } else {
    it('a "%" in a name is refused: mod_xsendfile takes it as is, lighttpd %-decodes it', async () => {
      await expectRefused(q('x-sendfile', join(home().files, PERCENT_NAME)), /rename the file without "%"/);
    });
  }

  if (accel !== undefined) {
    it("the app's own X-Accel-Redirect under the mapped prefix is mapped back, checked and sent", async () => {
      await expectServed(q('accel', `${accel}files/big.txt`));
    });
  }

  it('refuses a file outside the roots, a symlink out, an unreadable one, a missing one', async () => {
    const { files, outside } = home();
    await expectRefused(q('x-sendfile', outside), /outside the folders this app may use/);
    await expectRefused(q('x-sendfile', join(files, 'link-out.txt')), /through a symlink/);
    await expectRefused(q('x-sendfile', join(files, 'private.txt')), /may not read/);
    await expectRefused(q('x-sendfile', join(files, 'nope.txt')), /no such file/);
  });

  it('refuses a relative path, a ".." path, a folder, X-Sendfile2 and an unmapped X-Accel-Redirect', async () => {
    const { files } = home();
    await expectRefused(q('x-sendfile', 'files/big.txt'), /not an absolute path/);
    await expectRefused(q('x-sendfile', `${files}/sub/../big.txt`), /"\.\." segment/);
    await expectRefused(q('x-sendfile', join(files, 'sub')), /not a regular file/);
    await expectRefused(q('sendfile2', join(files, 'big.txt')), /X-Sendfile2 is not passed on/);
    await expectRefused(q('accel', '/protected/secret.txt'), /X-Accel-Redirect/);
  });
}

/** What a server answers to the app's CGI local redirect: status, Location, body start. */
async function localRedirect(url: string): Promise<{ status: number; location: string | null; body: string }> {
  const res = await curl(url);
  return {
    status: res.status,
    location: /^location: *(.*)$/im.exec(res.headers)?.[1]?.trim() ?? null,
    body: res.body.slice(0, 60),
  };
}

const HELLO = 'hello from the web server\n';

// ---------------------------------------------------------------------------------------------

const nginxAvailable = findBinary('nginx') !== null && isRoot() && userIds(APP_USER) !== null;

describe.skipIf(!nginxAvailable)('nginx X-Accel-Redirect (docs/file-offload.md)', () => {
  let home: Home;
  let nginx: WebServer;
  let fcgi: WsgiFcgi;

  beforeAll(async () => {
    home = makeHome(APP_USER);
    const dir = e2eDir('offload-nginx');
    const run = join(dir, 'run');
    mkdirs(run);
    const ids = userIds(APP_USER)!;
    chownRun(run, ids.uid);
    const socket = join(run, 'fcgi.sock');
    const hostFile = join(dir, 'host.toml');
    writeFileSync(
      hostFile,
      configFromGuide(GUIDE, 'host-toml', [['"/home/"', JSON.stringify(`${home.folder.dir}/`)]]),
      {
        mode: 0o644,
      },
    );
    const command = commandFromGuide(GUIDE, 'wsgi-fcgi-nginx', [
      ['/run/wsgikit/alice/fcgi.sock', socket],
      ['/home/alice/apps/site.wsgi', home.folder.app],
      ['/home/alice', home.folder.dir],
      ['--user alice', `--user ${APP_USER}`],
      ['/etc/wsgikit/host.toml', hostFile],
    ]);
    expect(command.args[0]).toBe('--listen');
    fcgi = await startWsgiFcgi(socket, command.args.slice(2), command.env);
    const port = await freePort();
    const site = configFromGuide(GUIDE, 'nginx-site', [
      ['/run/wsgikit/alice/fcgi.sock', socket],
      ['listen 80;', `listen 127.0.0.1:${port};`],
      ['/home/', `${home.folder.dir}/`],
    ]);
    nginx = await startNginx(dir, port, site);
  });

  stopAndDumpOnFailure(
    () => nginx,
    () => fcgi,
    () => ({ app: home }),
  );

  offloadCases(
    () => home,
    () => `${nginx.url}/`,
    '/_wsgikit_files/',
  );

  it('the internal location is not reachable by a visitor', async () => {
    const res = await curl(`${nginx.url}/_wsgikit_files/files/big.txt`);
    expect(res.status).toBe(404);
  });

  it('a CGI local redirect becomes a 302 to the visitor (nginx does no local redirects)', async () => {
    expect(await localRedirect(`${nginx.url}/${q('location', '/hello.txt')}`)).toEqual({
      status: 302,
      location: '/hello.txt',
      body: expect.not.stringContaining(HELLO) as unknown,
    });
  });
});

// ---------------------------------------------------------------------------------------------

const apacheAvailable =
  hasApacheModules('fcgid', 'xsendfile', 'proxy', 'proxy_fcgi') && isRoot() && userIds('www-data') !== null;

describe.skipIf(!apacheAvailable)(
  'Apache mod_xsendfile behind mod_fcgid and mod_proxy_fcgi (docs/file-offload.md)',
  () => {
    let fcgidHome: Home;
    let proxyHome: Home;
    let apache: WebServer;
    let fcgi: WsgiFcgi;

    beforeAll(async () => {
      // mod_fcgid runs the stub as Apache's user; the proxied wsgi-fcgi drops to APP_USER.
      fcgidHome = makeHome('www-data');
      proxyHome = makeHome(APP_USER);
      const dir = e2eDir('offload-apache');
      const www = join(dir, 'public_html');
      const fcgid = join(dir, 'fcgid');
      const run = join(dir, 'run');
      mkdirs(www, fcgid, run);
      const wwwIds = userIds('www-data')!;
      chownRun(fcgid, wwwIds.uid);
      chownRun(run, userIds(APP_USER)!.uid);
      writeFileSync(join(www, 'hello.txt'), HELLO, { mode: 0o644 });
      writeFileSync(
        join(www, 'app.fcgi'),
        configFromGuide(GUIDE, 'fcgi-stub', [
          ['/usr/bin/node', NODE],
          ['/usr/lib/node_modules/wsgikit/dist/cli/wsgi-fcgi.js', WSGI_FCGI],
          ['/home/alice/apps/site.wsgi', fcgidHome.folder.app],
          ['/home/alice', fcgidHome.folder.dir],
        ]),
        { mode: 0o755 },
      );
      const socket = join(run, 'fcgi.sock');
      const command = commandFromGuide(GUIDE, 'wsgi-fcgi-x-sendfile', [
        ['/run/wsgikit/alice/fcgi.sock', socket],
        ['/home/alice/apps/site.wsgi', proxyHome.folder.app],
        ['/home/alice', proxyHome.folder.dir],
        ['--user alice', `--user ${APP_USER}`],
      ]);
      fcgi = await startWsgiFcgi(socket, command.args.slice(2), command.env);
      // One XSendFilePath per section in the guide; the test's two homes are two folders.
      const site = configFromGuide(GUIDE, 'apache-xsendfile', [
        ['/var/lib/apache2/fcgid', fcgid],
        ['/home/alice/public_html', www],
        ['/run/wsgikit/alice/fcgi.sock', socket],
        ['    XSendFilePath /home/alice\n</Directory>', `    XSendFilePath ${fcgidHome.folder.dir}\n</Directory>`],
        ['    XSendFilePath /home/alice\n</Location>', `    XSendFilePath ${proxyHome.folder.dir}\n</Location>`],
      ]);
      apache = await startApache(dir, await freePort(), ['fcgid', 'xsendfile', 'proxy', 'proxy_fcgi'], site);
    });

    stopAndDumpOnFailure(
      () => apache,
      () => fcgi,
      () => ({ mod_fcgid: fcgidHome, mod_proxy_fcgi: proxyHome }),
    );

    describe('mod_fcgid', () => {
      offloadCases(
        () => fcgidHome,
        () => `${apache.url}/app.fcgi`,
      );
    });

    describe('mod_proxy_fcgi', () => {
      offloadCases(
        () => proxyHome,
        () => `${apache.url}/p/`,
      );
    });

    it('a CGI local redirect: mod_fcgid serves the path in its place', async () => {
      expect(await localRedirect(`${apache.url}/app.fcgi${q('location', '/hello.txt')}`)).toEqual({
        status: 200,
        location: null,
        body: HELLO,
      });
    });

    it('a CGI local redirect: mod_proxy_fcgi passes it on as an empty 200 with Location', async () => {
      expect(await localRedirect(`${apache.url}/p/${q('location', '/hello.txt')}`)).toEqual({
        status: 200,
        location: '/hello.txt',
        body: '',
      });
    });
  },
);

// ---------------------------------------------------------------------------------------------

const lighttpdAvailable = findBinary('lighttpd') !== null && isRoot() && userIds(APP_USER) !== null;

describe.skipIf(!lighttpdAvailable)('lighttpd x-sendfile (docs/file-offload.md)', () => {
  let home: Home;
  let lighttpd: WebServer;
  let fcgi: WsgiFcgi;

  beforeAll(async () => {
    home = makeHome(APP_USER);
    const dir = e2eDir('offload-lighttpd');
    const www = join(dir, 'htdocs');
    const run = join(dir, 'run');
    mkdirs(www, run);
    chownRun(run, userIds(APP_USER)!.uid);
    writeFileSync(join(www, 'hello.txt'), HELLO, { mode: 0o644 });
    const socket = join(run, 'fcgi.sock');
    const command = commandFromGuide(GUIDE, 'wsgi-fcgi-x-sendfile', [
      ['/run/wsgikit/alice/fcgi.sock', socket],
      ['/home/alice/apps/site.wsgi', home.folder.app],
      ['/home/alice', home.folder.dir],
      ['--user alice', `--user ${APP_USER}`],
    ]);
    fcgi = await startWsgiFcgi(socket, command.args.slice(2), command.env);
    const site = configFromGuide(GUIDE, 'lighttpd-site', [
      ['/run/wsgikit/alice/fcgi.sock', socket],
      ['/home/alice', home.folder.dir],
    ]);
    lighttpd = await startLighttpd(dir, await freePort(), www, site);
  });

  stopAndDumpOnFailure(
    () => lighttpd,
    () => fcgi,
    () => ({ app: home }),
  );

  offloadCases(
    () => home,
    () => `${lighttpd.url}/app`,
  );

  it('a CGI local redirect becomes a 302 to the visitor (mod_fastcgi does no local redirects)', async () => {
    expect(await localRedirect(`${lighttpd.url}/app${q('location', '/hello.txt')}`)).toEqual({
      status: 302,
      location: '/hello.txt',
      body: expect.not.stringContaining(HELLO) as unknown,
    });
  });
});

/** The end of a section with one server, one wsgi-fcgi and one home, and its logs when a case fails. */
function stopAndDumpOnFailure(
  server: () => WebServer | undefined,
  fcgi: () => WsgiFcgi | undefined,
  homes: () => Record<string, Home | undefined>,
): void {
  afterAll(async () => {
    await server()?.stop();
    await fcgi()?.stop();
    removeTempDirs();
  });
  dumpLogsOnFailure(() => [
    [`${server()?.name ?? 'server'} error log`, server()?.errorLog() ?? ''],
    ['wsgi-fcgi', fcgi()?.output() ?? ''],
    ...Object.entries(homes()).map(([name, home]): [string, string] => [`app log (${name})`, home?.folder.log() ?? '']),
  ]);
}

/** A folder of sockets or state: its user and the web server's group may enter, nobody else. */
function chownRun(dir: string, uid: number): void {
  chownSync(dir, uid, groupId('www-data') ?? 33);
}
