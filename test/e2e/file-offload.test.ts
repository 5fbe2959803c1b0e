// Files handed to the web server (docs/file-offload.md), with the real servers on 127.0.0.1: nginx
// X-Accel-Redirect to an internal location, Apache mod_xsendfile behind mod_fcgid and
// mod_proxy_fcgi, lighttpd x-sendfile. Each server runs the guide's configuration, once. A file
// the app may send comes from the server (it answers a Range request with 206, which wsgikit's own
// sending never does); anything else is a 403 whose incident id stands in the app's log. Also
// records what each server does with a CGI local redirect (200 + Location, no body). The cases are
// test/helpers/file-offload.ts, shared with Apache mod_cgi (test/e2e/apache-cgi-offload.test.ts).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  APP_USER,
  GUIDE,
  HELLO,
  chownRun,
  localRedirect,
  makeHome,
  offloadCases,
  offloadSuite,
  q,
  stopAndDumpOnFailure,
  type Home,
} from '../helpers/file-offload.js';
import {
  NODE,
  WSGI_FCGI,
  commandFromGuide,
  configFromGuide,
  curl,
  e2eDir,
  findBinary,
  freePort,
  hasApacheModules,
  isRoot,
  mkdirs,
  startApache,
  startLighttpd,
  startNginx,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';

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

  offloadSuite({
    server: () => nginx,
    fcgi: () => fcgi,
    home: () => home,
    base: () => `${nginx.url}/`,
    accel: '/_wsgikit_files/',
  });

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

  offloadSuite({ server: () => lighttpd, fcgi: () => fcgi, home: () => home, base: () => `${lighttpd.url}/app` });

  it('a CGI local redirect becomes a 302 to the visitor (mod_fastcgi does no local redirects)', async () => {
    expect(await localRedirect(`${lighttpd.url}/app${q('location', '/hello.txt')}`)).toEqual({
      status: 302,
      location: '/hello.txt',
      body: expect.not.stringContaining(HELLO) as unknown,
    });
  });
});
