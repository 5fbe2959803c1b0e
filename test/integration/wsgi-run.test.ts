// wsgi-run end to end: the built command, real Python workers, real HTTP on 127.0.0.1.
// Each block starts its own wsgi-run with the settings it needs, once.

import { execFileSync } from 'node:child_process';
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryOf } from '../helpers/pythons.js';
import { INCIDENT, fixture } from '../helpers/servers.js';
import {
  appFolder,
  eventually,
  startWsgiRun,
  streamedBody,
  type AppFolder,
  type RunningServer,
} from '../helpers/wsgi-run.js';

const GATED_APP = `
import os, sys, time

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/slow':
        gate = environ['QUERY_STRING']
        print('slow started in %d' % os.getpid())
        sys.stdout.flush()
        while not os.path.exists(gate):
            time.sleep(0.02)
    elif path == '/crash':
        os.kill(os.getpid(), 9)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %d' % (path, os.getpid())).encode()]
`;

function pidOf(body: string): number {
  return Number(body.split(' ')[1]);
}

describe('wsgi-run: head of line, overload, crash', () => {
  let folder: AppFolder;
  let server: RunningServer;
  beforeAll(async () => {
    folder = appFolder(GATED_APP, { processes: 2, queue_size: 0 });
    server = await startWsgiRun(folder.app, ['--no-reload']);
  });
  afterAll(() => server?.stop());

  it('serves fast requests while a slow one holds a worker (no head-of-line blocking)', async () => {
    const gate = join(folder.dir, 'gate-1');
    const slow = fetch(`${server.url}/slow?${gate}`).then((r) => r.text());
    await eventually(() => folder.log().includes('slow started'), 'the slow request to start');
    // If a fast request could wait behind the slow one, these would hang until the test times out:
    // the slow request cannot finish before the gate file exists. (One at a time: this pool has
    // one free worker and no queue.)
    const fast: string[] = [];
    for (let i = 0; i < 20; i++) fast.push(await fetch(`${server.url}/fast`).then((r) => r.text()));
    expect(existsSync(gate)).toBe(false);
    writeFileSync(gate, '');
    const slowBody = await slow;
    for (const body of fast) {
      expect(body).toMatch(/^\/fast \d+$/);
      expect(pidOf(body)).not.toBe(pidOf(slowBody));
    }
  });

  it('answers 503 at once when every worker is busy and the queue is full', async () => {
    const gates = [join(folder.dir, 'gate-2a'), join(folder.dir, 'gate-2b')];
    const before = (folder.log().match(/slow started/g) ?? []).length;
    const slow = gates.map((gate) => fetch(`${server.url}/slow?${gate}`).then((r) => r.text()));
    await eventually(() => (folder.log().match(/slow started/g) ?? []).length >= before + 2, 'two slow requests');
    const res = await fetch(`${server.url}/fast`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(await res.text()).toContain('Too many requests');
    for (const gate of gates) writeFileSync(gate, '');
    await Promise.all(slow);
    expect((await fetch(`${server.url}/fast`)).status).toBe(200);
  });

  it('answers 502 with an incident when the worker dies mid-request, then serves on', async () => {
    const res = await fetch(`${server.url}/crash`, { headers: { accept: 'text/plain' } });
    expect(res.status).toBe(502);
    const page = await res.text();
    const incident = /[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}/.exec(page)?.[0];
    expect(incident).toBeTruthy();
    await eventually(() => folder.log().includes(`incident ${incident}`), 'the incident in the log');
    expect((await fetch(`${server.url}/after`)).status).toBe(200);
  });
});

describe('wsgi-run: a request past its timeout', () => {
  let folder: AppFolder;
  let server: RunningServer;
  beforeAll(async () => {
    folder = appFolder(
      `
def stuck_here():
    while True:
        pass

def application(environ, start_response):
    if environ['PATH_INFO'] == '/stuck':
        stuck_here()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
`,
      { request_timeout: 1, processes: 1 },
    );
    server = await startWsgiRun(folder.app, ['--no-reload']);
  });
  afterAll(() => server?.stop());

  it('gets 504, the Python stack of the stuck request lands in the log, and the next request is served', async () => {
    const res = await fetch(`${server.url}/stuck`, { headers: { accept: 'text/plain' } });
    expect(res.status).toBe(504);
    const incident = INCIDENT.exec(await res.text())?.[0];
    expect(incident).toBeTruthy();
    const log = await eventually(() => {
      const text = folder.log();
      return text.includes(`incident ${incident}`) && text.includes('stuck_here') ? text : null;
    }, 'the stack dump');
    expect(log.indexOf(`incident ${incident}`)).toBeLessThan(log.lastIndexOf('stuck_here'));
    const after = await fetch(`${server.url}/`);
    expect(await after.text()).toBe('ok');
  });

  it('still stops a stuck request whose client went away, and serves the next one', async () => {
    const controller = new AbortController();
    const gone = fetch(`${server.url}/stuck`, { signal: controller.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    expect(await gone).toBe('aborted');
    await eventually(
      () => folder.log().includes('after its answer was complete or the client had gone'),
      'the timeout',
    );
    expect(await (await fetch(`${server.url}/`)).text()).toBe('ok');
  });
});

describe('wsgi-run: reload and load failures', () => {
  let folder: AppFolder;
  let server: RunningServer;
  const version = (n: number) => `
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'version ${n} %d' % os.getpid()]
`;
  beforeAll(async () => {
    folder = appFolder(version(1), { reload_check_interval: 0 });
    server = await startWsgiRun(folder.app, ['--no-reload']);
  });
  afterAll(() => server?.stop());

  it('picks up a changed .wsgi on the next request', async () => {
    expect(await (await fetch(server.url + '/')).text()).toMatch(/^version 1 /);
    writeFileSync(folder.app, version(2));
    expect(await (await fetch(server.url + '/')).text()).toMatch(/^version 2 /);
  });

  it('restarts the workers when restart.txt is touched', async () => {
    const before = pidOf(await (await fetch(server.url + '/')).text().then((t) => t.slice(8)));
    writeFileSync(join(folder.dir, 'restart.txt'), String(Date.now()));
    const after = pidOf(await (await fetch(server.url + '/')).text().then((t) => t.slice(8)));
    expect(after).not.toBe(before);
  });

  it('shows a load failure as a 500 naming the incident, and serves the fix without a restart', async () => {
    writeFileSync(folder.app, 'import no_such_module_here\n');
    const res = await fetch(server.url + '/', { headers: { accept: 'text/plain' } });
    expect(res.status).toBe(500);
    const page = await res.text();
    expect(page).toContain('no_such_module_here');
    const incident = /[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}/.exec(page)?.[0];
    expect(folder.log()).toContain(`incident ${incident}`);
    writeFileSync(folder.app, version(3));
    expect(await (await fetch(server.url + '/')).text()).toMatch(/^version 3 /);
  });
});

describe('wsgi-run: output, limits and streaming', () => {
  let folder: AppFolder;
  let server: RunningServer;
  beforeAll(async () => {
    folder = appFolder(
      `
import hashlib, logging, os, sys

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/noisy':
        print('printed to stdout')
        sys.stdout.write('no newline here')
        os.write(1, b'raw fd 1\\n')
        os.write(2, b'raw fd 2\\n')
        logging.warning('a logging warning')
        print('to stderr', file=sys.stderr)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'clean body']
    if path == '/upload':
        digest = hashlib.sha256()
        total = 0
        stream = environ['wsgi.input']
        while True:
            block = stream.read(65536)
            if not block:
                break
            total += len(block)
            digest.update(block)
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [('%d %s' % (total, digest.hexdigest())).encode()]
    if path == '/download':
        block = b'x' * 65536
        count = int(environ['QUERY_STRING'])
        start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                                  ('Content-Length', str(count * len(block)))])
        return (block for _ in range(count))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
`,
      { max_body_mb: 200 },
    );
    server = await startWsgiRun(folder.app, ['--no-reload']);
  });
  afterAll(() => server?.stop());

  it("keeps print(), fd 1, fd 2 and logging out of the response and in the app's log", async () => {
    const res = await fetch(server.url + '/noisy');
    expect(await res.text()).toBe('clean body');
    const log = await eventually(() => {
      const text = folder.log();
      return text.includes('to stderr') && text.includes('raw fd 2') ? text : null;
    }, 'the output in the log');
    for (const line of ['printed to stdout', 'raw fd 1', 'a logging warning']) expect(log).toContain(line);
  });

  it('streams a 100 MB upload and a 100 MB download with flat front-end memory', async () => {
    const { stream: body, size: total, sha256 } = streamedBody(100);
    const up = await fetch(server.url + '/upload', {
      method: 'POST',
      body: Readable.toWeb(body) as ReadableStream,
      headers: { 'content-length': String(total) },
      duplex: 'half',
    } as RequestInit);
    expect(await up.text()).toBe(`${total} ${sha256}`);

    const down = await fetch(server.url + '/download?1600');
    let received = 0;
    for await (const chunk of down.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
    expect(received).toBe(total);

    // Node itself takes ~50-70 MB; holding either body would add 100 MB.
    expect(memoryOf(server.pid).peakMb).toBeLessThan(150);
  });

  it('answers 413 for a body over the limit, declared or chunked', async () => {
    // Declared: refused from the headers alone, before any of the body is sent.
    expect(await postStatus(server.url + '/upload', { 'content-length': String(300 * 1024 * 1024) }, 0)).toBe(413);
    // Chunked: counted as it streams and cut off once past the limit.
    expect(await postStatus(server.url + '/upload', { 'transfer-encoding': 'chunked' }, 300)).toBe(413);
  });
});

describe('wsgi-run: X-Sendfile and wsgi.file_wrapper are sent by wsgikit itself, after the checks', () => {
  let folder: AppFolder;
  let server: RunningServer;
  let big: string;
  const SIZE = 100 * 1024 * 1024;
  beforeAll(async () => {
    folder = appFolder(fixture('sendfile.wsgi'));
    big = join(folder.dir, 'big.bin');
    writeFileSync(big, '');
    truncateSync(big, SIZE);
    server = await startWsgiRun(folder.app, ['--no-reload']);
  });
  afterAll(() => server?.stop());

  it('streams a 100 MB file with its Content-Length, without the app body, with flat memory', async () => {
    const res = await fetch(`${server.url}/?x-sendfile=${encodeURIComponent(big)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(SIZE));
    expect(res.headers.get('x-sendfile')).toBeNull();
    let received = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) received += chunk.length;
    expect(received).toBe(SIZE);
    expect(memoryOf(server.pid).peakMb).toBeLessThan(150);
  });

  it('refuses a file outside the app folder with a 403 and an incident in the log', async () => {
    const res = await fetch(`${server.url}/?x-sendfile=${encodeURIComponent('/etc/hostname')}`);
    expect(res.status).toBe(403);
    const incident = INCIDENT.exec(await res.text())?.[0];
    expect(folder.log()).toContain(`incident ${incident}: GET /: file not sent: X-Sendfile: /etc/hostname`);
  });
});

describe('wsgi-run --cgi and --mount with Flask', () => {
  let folder: AppFolder;
  let server: RunningServer;
  const flask = (() => {
    try {
      execFileSync('/usr/bin/python3', ['-c', 'import flask']);
      return true;
    } catch {
      return false;
    }
  })();
  beforeAll(async () => {
    folder = appFolder(
      `#!/usr/bin/python3
import os
from flask import Flask, url_for, request

app = Flask(__name__)

@app.route('/page/<name>')
def page(name):
    return '%s %s %s %s' % (url_for('page', name='other'), request.environ['wsgi.run_once'], os.getpid(), name)

application = app
`,
    );
    if (flask) server = await startWsgiRun(folder.app, ['--no-reload', '--cgi', '--mount', '/blog']);
  });
  afterAll(() => server?.stop());

  it.skipIf(!flask)('runs one process per request and builds links under the mount', async () => {
    const a = await (await fetch(server.url + '/page/one')).text();
    const b = await (await fetch(server.url + '/page/two')).text();
    const [linkA, runOnceA, pidA, nameA] = a.split(' ');
    const [, , pidB, nameB] = b.split(' ');
    expect(server.url).toMatch(/\/blog$/);
    expect(linkA).toBe('/blog/page/other');
    expect(runOnceA).toBe('True');
    expect([nameA, nameB]).toEqual(['one', 'two']);
    expect(pidA).not.toBe(pidB);
    expect((await fetch(server.url.replace(/\/blog$/, '/elsewhere'))).status).toBe(404);
  });
});

/** POSTs up to `megabytes` of body, stopping as soon as the answer's status arrives. */
function postStatus(url: string, headers: Record<string, string>, megabytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode!);
      req.destroy();
    });
    req.on('error', reject);
    const block = Buffer.alloc(1024 * 1024, 1);
    let sent = 0;
    const pump = () => {
      while (sent < megabytes && !req.destroyed) {
        sent++;
        if (!req.write(block)) return req.once('drain', pump);
      }
      if (megabytes === 0) req.flushHeaders();
    };
    pump();
  });
}

describe('wsgi-run --layout', () => {
  const SHOW = `
def application(environ, start_response):
    body = ('%s|%s|%s' % (environ['SCRIPT_NAME'], environ['PATH_INFO'], environ.get('REDIRECT_URL'))).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
`;
  let server: RunningServer;
  let rewrite: RunningServer;
  beforeAll(async () => {
    [server, rewrite] = await Promise.all([
      startWsgiRun(appFolder(SHOW).app, ['--no-reload', '--layout', 'action']),
      startWsgiRun(appFolder(SHOW).app, ['--no-reload', '--layout', 'rewrite']),
    ]);
  });
  afterAll(() => Promise.all([server?.stop(), rewrite?.stop()]));

  // The documented rule (RewriteRule ^ app.wsgi) sends no PATH_INFO: it is rebuilt from the URL.
  it('replays the rewrite layout: PATH_INFO from the URL, REDIRECT_URL agreeing with it', async () => {
    expect(await (await fetch(rewrite.url + '/e/100%25')).text()).toBe('|/e/100%|/e/100%');
    await eventually(() => rewrite.output().includes('explain: rule rewrite-hidden-script'), 'the explain lines');
    expect(rewrite.output()).toContain('explain: in: SCRIPT_NAME="/app.wsgi" REQUEST_URI="/e/100%25" ');
  });

  it('replays the Action-handler layout through the host repair and explains it', async () => {
    expect(server.url).toMatch(/\/app\.wsgi$/);
    expect(await (await fetch(server.url + '/foo/bar')).text()).toBe('/app.wsgi|/foo/bar|/app.wsgi/foo/bar');
    await eventually(() => server.output().includes('explain: rule action-handler'), 'the explain lines');
    const outside = await fetch(server.url.replace(/\/app\.wsgi$/, '/elsewhere'), {
      headers: { accept: 'text/plain' },
    });
    expect(outside.status).toBe(404);
  });
});
