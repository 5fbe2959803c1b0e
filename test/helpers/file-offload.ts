// The file offload end-to-end cases (docs/file-offload.md), shared by every server that runs them:
// test/e2e/file-offload.test.ts (nginx, Apache behind mod_fcgid and mod_proxy_fcgi, lighttpd) and
// test/e2e/apache-cgi-offload.test.ts (Apache mod_cgi with wsgi-cgi). A file the app may send comes
// from the server (it answers a Range request with 206, which wsgikit's own sending never does);
// anything else is a 403 whose incident id stands in the app's log.

import { chmodSync, chownSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  INCIDENT,
  curl,
  e2eDir,
  fixture,
  groupId,
  mkdirs,
  ownedAppFolder,
  removeTempDirs,
  type WebServer,
  type WsgiFcgi,
} from './servers.js';
import { dumpLogsOnFailure } from './server-checks.js';
import type { AppFolder } from './wsgi-run.js';

export const GUIDE = 'file-offload.md';
/** Stands in for the hosting user "alice" of the guide where wsgi-fcgi drops to a user. */
export const APP_USER = 'nobody';
const APP_BODY = 'THE-APP-BODY';

/** alice's home: the app, the files it names, and a file it must not. */
export interface Home {
  folder: AppFolder;
  files: string;
  /** A file outside every root. */
  outside: string;
  big: string;
}

/** A home like the guide's /home/alice, whose log folder `user` may write; `settings` for its sidecar. */
export function makeHome(user: string, settings: Record<string, string | number | boolean> = {}): Home {
  const folder = ownedAppFolder(fixture('sendfile.wsgi'), settings, user);
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

export const q = (key: string, value: string) => `?${key}=${encodeURIComponent(value)}`;

/**
 * The cases every server must pass. `base()`: the URL prefix of the app behind that server;
 * `accel`: the internal URI prefix, for nginx.
 */
export function offloadCases(home: () => Home, base: () => string, accel?: string): void {
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
export async function localRedirect(url: string): Promise<{ status: number; location: string | null; body: string }> {
  const res = await curl(url);
  return {
    status: res.status,
    location: /^location: *(.*)$/im.exec(res.headers)?.[1]?.trim() ?? null,
    body: res.body.slice(0, 60),
  };
}

export const HELLO = 'hello from the web server\n';

/** The end of a section with one server, one wsgi-fcgi and one home, and its logs when a case fails. */
export function stopAndDumpOnFailure(
  server: () => WebServer | undefined,
  /** The wsgi-fcgi behind it; undefined under CGI, where the server starts wsgi-cgi itself. */
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
export function chownRun(dir: string, uid: number): void {
  chownSync(dir, uid, groupId('www-data') ?? 33);
}

/** A section with one server and one home: its end (stopAndDumpOnFailure), then offloadCases. */
export function offloadSuite(options: {
  server: () => WebServer | undefined;
  fcgi?: () => WsgiFcgi | undefined;
  home: () => Home;
  base: () => string;
  accel?: string;
}): void {
  stopAndDumpOnFailure(options.server, options.fcgi ?? (() => undefined), () => ({ app: options.home() }));
  offloadCases(options.home, options.base, options.accel);
}
