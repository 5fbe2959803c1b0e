// Apache mod_cgi (Debian's apache2, mpm_event + mod_cgid) with libapache2-mod-xsendfile, in front
// of wsgi-cgi run by a per-app stub (docs/file-offload.md, "Apache mod_cgi"): the stub, the Apache
// lines and the host file are read out of the guide. wsgi-cgi reads sendfile = "x-sendfile" from
// the host file the stub names, and Apache sends the file: it answers a Range request with 206.
// The cases are those every other server runs (test/helpers/file-offload.ts), plus what mod_cgi
// does with a CGI local redirect (200 + Location, no body).
//
// One Apache for the file. The app runs one-shot as www-data (cgi_daemon = false), from a home
// that allowed_roots names. wsgi-cgi runs from this checkout's build through the stub: nothing is
// installed to /usr/local/bin, so test/e2e/apache-cgi.test.ts and parallel runs are not touched.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { WSGI_CGI_BUILT, WSGI_CGI_COMMAND } from '../helpers/apache-cgi.js';
import { CGI_ENTRIES } from '../helpers/cgi-site.js';
import {
  GUIDE,
  HELLO,
  localRedirect,
  makeHome,
  offloadCases,
  q,
  stopAndDumpOnFailure,
  type Home,
} from '../helpers/file-offload.js';
import {
  NODE,
  configFromGuide,
  curl,
  e2eDir,
  freePort,
  hasApacheModules,
  isRoot,
  mkdirs,
  startApache,
  userIds,
  type WebServer,
} from '../helpers/servers.js';

const MODULES = ['cgid', 'alias', 'xsendfile'];
const available = isRoot() && hasApacheModules(...MODULES) && userIds('www-data') !== null;

describe.skipIf(!available)('Apache mod_cgi + mod_xsendfile → wsgi-cgi (docs/file-offload.md)', () => {
  let home: Home;
  let apache: WebServer;
  /** Writes the stub, running wsgi-cgi as `command`. */
  let stub: (command: string) => void;

  beforeAll(async () => {
    // mod_cgi runs the stub, and so wsgi-cgi and the app, as Apache's user.
    home = makeHome('www-data', { cgi_daemon: false });
    const dir = e2eDir('offload-apache-cgi');
    const www = join(dir, 'public_html');
    const cgiBin = join(dir, 'cgi-bin');
    mkdirs(www, cgiBin);
    writeFileSync(join(www, 'hello.txt'), HELLO, { mode: 0o644 });
    const hostFile = join(dir, 'host.toml');
    writeFileSync(
      hostFile,
      `allowed_roots = [${JSON.stringify(home.folder.dir)}]\n` +
        configFromGuide(GUIDE, 'host-toml', [['"/home/"', JSON.stringify(`${home.folder.dir}/`)]]),
      { mode: 0o644 },
    );
    stub = (command: string) =>
      writeFileSync(
        join(cgiBin, 'site.cgi'),
        configFromGuide(GUIDE, 'cgi-stub', [
          ['/usr/local/bin/wsgi-cgi', command],
          ['/etc/wsgikit/host.toml', hostFile],
          ['/home/alice/apps/site.wsgi', home.folder.app],
        ]),
        { mode: 0o755 },
      );
    const site = configFromGuide(GUIDE, 'apache-cgi-xsendfile', [
      ['/home/alice/cgi-bin', cgiBin],
      ['/home/alice/public_html', www],
      ['XSendFilePath /home/alice', `XSendFilePath ${home.folder.dir}`],
    ]);
    apache = await startApache(dir, await freePort(), MODULES, site);
  });

  stopAndDumpOnFailure(
    () => apache,
    () => undefined,
    () => ({ app: home }),
  );

  // The same requests through each entry: the stub is rewritten to run one, then the other.
  describe.each(CGI_ENTRIES)('through the $name entry', (entry) => {
    beforeAll(() => stub(entry.name === 'native' ? WSGI_CGI_COMMAND : `${NODE} ${WSGI_CGI_BUILT}`));

    offloadCases(
      () => home,
      () => `${apache.url}/app`,
    );

    it('the app answers itself when it names no file; a query string without "=" reaches it too', async () => {
      for (const query of ['', '?bar', '?a+b']) {
        const res = await curl(`${apache.url}/app${query}`);
        expect(res.status, res.body.slice(0, 400)).toBe(200);
        expect(res.body).toBe('sendfile fixture\n');
      }
    });

    it('a CGI local redirect: mod_cgid serves the path in its place, a 200 without Location', async () => {
      expect(await localRedirect(`${apache.url}/app${q('location', '/hello.txt')}`)).toEqual({
        status: 200,
        location: null,
        body: HELLO,
      });
    });
  });
});
