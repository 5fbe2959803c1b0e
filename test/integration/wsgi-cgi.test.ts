// wsgi-cgi run the way a web server runs it: a CGI environment, the body on stdin, the response
// read from stdout. Covers one-shot and daemon mode (start on demand, reuse, a race of first
// requests, a killed daemon), the Action-handler layout, error pages and refusals.

import { createHash } from 'node:crypto';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGI_ENTRIES, cgi, site, useCgiEntry, type CgiResult, type Site } from '../helpers/cgi-site.js';
import { eventually } from '../helpers/wsgi-run.js';

const APP = `
import hashlib, json, os

def application(environ, start_response):
    if environ['PATH_INFO'] == '/boom':
        raise RuntimeError('secret detail 1234')
    body = environ['wsgi.input'].read()
    data = {
        'script_name': environ['SCRIPT_NAME'],
        'path_info': environ['PATH_INFO'],
        'run_once': environ['wsgi.run_once'],
        'pid': os.getpid(),
        'sha256': hashlib.sha256(body).hexdigest(),
        'length': len(body),
        'odd_names': sorted(k for k in environ if not k[:1].isalpha()),
    }
    out = json.dumps(data).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(out)))])
    return [out]
`;

const daemons = new Set<number>();

function json(result: CgiResult): Record<string, unknown> {
  return JSON.parse(result.body.toString('utf8'));
}

/** Daemons this file started, found by their "ready" line in the daemon's log: stopped at the end. */
function noteDaemons(s: Site): number[] {
  const pids = [...s.daemonLog().matchAll(/"pid":(\d+),"name":"wsgi-fcgi","listen"/g)].map((m) => Number(m[1]));
  for (const pid of pids) daemons.add(pid);
  return pids;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(() => {
  for (const pid of daemons) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone (idle exit)
    }
  }
});

// A gateway answers a CONTENT_LENGTH it cannot trust with 400 before any app code runs; the app is
// given exactly the declared length, never more.
const COUNTING_APP = `
import json, sys
sys.stdout.write('app imported\\n')
sys.stdout.flush()

def application(environ, start_response):
    body = environ['wsgi.input'].read()
    out = json.dumps({'length': len(body), 'body': body.decode('latin-1'),
                      'content_length': environ.get('CONTENT_LENGTH')}).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [out]
`;

describe.each(CGI_ENTRIES)('through the $name entry', (entry) => {
  beforeAll(() => useCgiEntry(entry));

  describe('wsgi-cgi one-shot', () => {
    const s = site(APP, 'cgi_daemon = false\n');

    it('runs the app in a fresh process per request, with wsgi.run_once', async () => {
      const a = json(await cgi(s, { PATH_INFO: '/x' }));
      const b = json(await cgi(s, { PATH_INFO: '/y' }));
      expect(a).toMatchObject({ script_name: '/app.wsgi', path_info: '/x', run_once: true });
      expect(a.pid).not.toBe(b.pid);
    });

    it('streams a POST body from stdin', async () => {
      const body = Buffer.alloc(3 * 1024 * 1024, 9);
      const result = json(await cgi(s, { PATH_INFO: '/up' }, body));
      expect(result).toMatchObject({ length: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    });

    it('shows strangers a plain 500 with an incident id and puts the traceback in the log', async () => {
      const result = await cgi(s, { PATH_INFO: '/boom', HTTP_ACCEPT: 'text/plain' });
      expect(result.status).toBe(500);
      const page = result.body.toString();
      expect(page).not.toContain('secret detail');
      const incident = /[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}/.exec(page)![0];
      const log = s.log();
      expect(log).toContain(`incident ${incident}`);
      expect(log).toContain('RuntimeError: secret detail 1234');
    });
  });

  describe('wsgi-cgi daemon mode', () => {
    const s = site(APP, 'owner_addresses = ["127.0.0.1"]\n');

    it('starts a daemon on the first request and reuses it', async () => {
      const first = json(await cgi(s, { PATH_INFO: '/one' }));
      const second = json(await cgi(s, { PATH_INFO: '/two' }));
      expect(first).toMatchObject({ path_info: '/one', run_once: false });
      // What the entry tells the daemon about the request is not part of the app's environ.
      expect(first.odd_names).toEqual([]);
      expect(second.pid).toBe(first.pid);
      expect(noteDaemons(s)).toHaveLength(1);
      // Its own lines are in its log beside its socket, owner-only; the app's log has none of them.
      expect(statSync(s.daemonLogFile).mode & 0o777).toBe(0o600);
      expect(s.log()).not.toContain('"name":"wsgi-fcgi"');
    });

    it('relays a POST body to the daemon and the answer back', async () => {
      const body = Buffer.alloc(5 * 1024 * 1024 + 3, 4);
      const result = json(await cgi(s, { PATH_INFO: '/up' }, body));
      expect(result).toMatchObject({ length: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    });

    it('shows the owner the traceback, and strangers not', async () => {
      const owner = await cgi(s, { PATH_INFO: '/boom', REMOTE_ADDR: '127.0.0.1', HTTP_ACCEPT: 'text/plain' });
      const stranger = await cgi(s, { PATH_INFO: '/boom', HTTP_ACCEPT: 'text/plain' });
      expect(owner.status).toBe(500);
      expect(owner.body.toString()).toContain('secret detail 1234');
      expect(stranger.status).toBe(500);
      expect(stranger.body.toString()).not.toContain('secret detail');
    });

    it('serves an app with cgi_daemon = false one-shot while the daemon serves the others', async () => {
      const oneshot = join(s.docroot, 'oneshot.wsgi');
      writeFileSync(oneshot, APP, { mode: 0o644 });
      writeFileSync(`${oneshot}.toml`, `log_dir = "${s.root}/logs"\ncgi_daemon = false\n`, { mode: 0o644 });
      expect(json(await cgi(s, { PATH_INFO: '/d' }))).toMatchObject({ run_once: false });
      const vars = { SCRIPT_NAME: '/oneshot.wsgi', SCRIPT_FILENAME: oneshot, PATH_INFO: '/o' };
      const body = Buffer.alloc(70_000, 3);
      expect(json(await cgi(s, vars, body))).toMatchObject({ run_once: true, path_info: '/o', length: body.length });
    });

    it('renders the 502 page with an incident when the launcher says the daemon failed mid-request', async () => {
      const result = await cgi(s, { PATH_INFO: '/x', HTTP_ACCEPT: 'text/plain', WSGIKIT_CGI_RELAY_FAILED: 'test' });
      expect(result.status).toBe(502);
      const incident = /[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}/.exec(result.body.toString())![0];
      expect(s.log()).toContain(`incident ${incident}`);
    });

    it('starts a new daemon when the old one was killed', async () => {
      const [old] = noteDaemons(s);
      process.kill(old!, 'SIGKILL');
      // Until it is gone its socket still accepts: a request then fails over to one-shot instead.
      await eventually(() => !isAlive(old!), 'the old daemon gone');
      const after = json(await cgi(s, { PATH_INFO: '/again' }));
      expect(after.path_info).toBe('/again');
      await eventually(() => noteDaemons(s).length === 2, 'a second daemon');
    });
  });

  describe('wsgi-cgi daemon start race', () => {
    const s = site(APP, '');

    it('starts exactly one daemon for a burst of first requests', async () => {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => cgi(s, { PATH_INFO: `/r${i}` })));
      for (const [i, result] of results.entries()) expect(json(result).path_info).toBe(`/r${i}`);
      expect(noteDaemons(s)).toHaveLength(1);
    });
  });

  describe('wsgi-cgi layouts and refusals', () => {
    const s = site(APP, 'cgi_daemon = false\n');

    it('serves the Apache Action-handler layout: the .wsgi arrives in PATH_INFO / PATH_TRANSLATED', async () => {
      const result = json(
        await cgi(s, {
          SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
          SCRIPT_FILENAME: '/usr/lib/cgi-bin/wsgi-cgi',
          PATH_INFO: '/app.wsgi/foo/bar',
          PATH_TRANSLATED: join(s.docroot, 'app.wsgi/foo/bar'),
          REQUEST_URI: '/app.wsgi/foo/bar',
          REDIRECT_URL: '/app.wsgi/foo/bar',
          REDIRECT_HANDLER: 'wsgi-script',
          REDIRECT_STATUS: '200',
        }),
      );
      expect(result).toMatchObject({ script_name: '/app.wsgi', path_info: '/foo/bar' });
    });

    it('ignores the search words a server passes as arguments for a query without "=" (RFC 3875 §4.4)', async () => {
      const result = await cgi(s, { PATH_INFO: '/find', QUERY_STRING: 'caf%C3%A9+bar' }, undefined, ['café', 'bar']);
      expect(json(result)).toMatchObject({ path_info: '/find' });
      // mod_cgid shell-escapes the words: "debug&verbose" arrives as debug\&verbose.
      const escaped = await cgi(s, { PATH_INFO: '/find', QUERY_STRING: 'debug&verbose' }, undefined, [
        'debug\\&verbose',
      ]);
      expect(json(escaped)).toMatchObject({ path_info: '/find' });
    });

    it('with explain = true, logs what the server sent, the rule that fired and what the app got', async () => {
      const explained = site(APP, 'cgi_daemon = false\nexplain = true\n');
      await cgi(explained, {
        SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
        SCRIPT_FILENAME: '/usr/lib/cgi-bin/wsgi-cgi',
        PATH_INFO: '/app.wsgi/explained',
        PATH_TRANSLATED: join(explained.docroot, 'app.wsgi/explained'),
        REQUEST_URI: '/app.wsgi/explained',
        REDIRECT_URL: '/app.wsgi/explained',
        REDIRECT_STATUS: '200',
      });
      const log = explained.log();
      expect(log).toContain('[explain]');
      expect(log).toContain('action-handler');
      expect(log).toContain('/cgi-bin/wsgi-cgi');
    });

    it('refuses a .wsgi that others may write, with the fix in the log and no detail on the page', async () => {
      const other = site(APP, 'cgi_daemon = false\n');
      chmodSync(other.app, 0o666);
      const result = await cgi(other, { PATH_INFO: '/', HTTP_ACCEPT: 'text/plain' });
      expect(result.status).toBe(403);
      expect(result.body.toString()).not.toContain(other.app);
      expect(result.stderr).toContain('chmod go-w');
    });
  });

  describe.each([
    ['one-shot', 'cgi_daemon = false\n'],
    ['daemon', ''],
  ])('wsgi-cgi %s: CONTENT_LENGTH', (_, settings) => {
    const s = site(COUNTING_APP, settings);
    afterAll(() => void noteDaemons(s));

    it.each(['-5', 'abc', '12abc', '+5', ' 5', '5 ', '1e3', '99999999999999999999'])(
      'answers CONTENT_LENGTH %j with the 400 page, and no app code runs',
      async (length) => {
        const result = await cgi(
          s,
          { PATH_INFO: '/up', CONTENT_LENGTH: length, HTTP_ACCEPT: 'text/plain' },
          Buffer.from('hello'),
        );
        expect(result.status).toBe(400);
        expect(result.body.toString()).toContain('Bad request');
        expect(result.body.toString()).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}/);
        expect(result.stderr).toContain('is not a length in bytes');
        expect(s.log()).not.toContain('app imported');
      },
    );

    it('gives the app exactly CONTENT_LENGTH bytes when stdin holds more', async () => {
      const result = json(await cgi(s, { PATH_INFO: '/up', CONTENT_LENGTH: '5' }, Buffer.from('helloEXTRA')));
      expect(result).toMatchObject({ length: 5, body: 'hello', content_length: '5' });
      expect(s.log()).toContain('app imported');
    });

    it('an empty CONTENT_LENGTH is no body', async () => {
      const result = json(await cgi(s, { PATH_INFO: '/up', CONTENT_LENGTH: '' }, Buffer.from('ignored')));
      expect(result).toMatchObject({ length: 0 });
    });

    it('a body that ends before CONTENT_LENGTH (the client gave up): the read ends early, the app answers', async () => {
      const result = json(await cgi(s, { PATH_INFO: '/up', CONTENT_LENGTH: '100' }, Buffer.from('shorter')));
      expect(result).toMatchObject({ length: 7, body: 'shorter' });
    });
  });
});
