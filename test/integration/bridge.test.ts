// The bridge against real interpreters: every test runs once per Python present on the machine.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppLoadError } from '../../src/errors.js';
import type { RunOutcome } from '../../src/python-bridge/bridge-process.js';
import type { WsgikitError } from '../../src/errors.js';
import {
  APPS,
  TestSink,
  environ,
  outcomeOf,
  pythons,
  request,
  startBridge,
  stopAllBridges,
  type TestBridge,
} from '../helpers/pythons.js';
import { eventually } from '../helpers/wsgi-run.js';

afterAll(stopAllBridges);

function failure(outcome: RunOutcome): { error: WsgikitError; started: boolean } {
  if (outcome.ok) throw new Error('expected the run to fail');
  return outcome;
}

/** A body delivered in pieces of `size` bytes on separate turns of the event loop. */
function inPieces(data: Buffer, size: number): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= data.length) {
        this.push(null);
        return;
      }
      const piece = data.subarray(at, at + size);
      at += size;
      setImmediate(() => this.push(piece));
    },
  });
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe.skipIf(pythons.length === 0).each(pythons)('bridge on $label', (python) => {
  describe('one persistent bridge per app', () => {
    let hello: TestBridge;
    beforeAll(async () => {
      hello = startBridge(python, 'hello.wsgi');
      await hello.bridge.ready;
    });
    afterAll(() => hello.bridge.kill());

    it('says hello and reports what it runs on', async () => {
      const info = await hello.bridge.ready;
      expect(info.pid).toBe(hello.bridge.pid);
      expect(info.executable).toBe(python.path);
      expect(info.version.startsWith(`${python.major}.${python.minor}.`)).toBe(true);
      expect(info.implementation).toBe(python.implementation);
      expect(info.importMs).toBeGreaterThanOrEqual(0);
      const { outcome, sink } = await request(hello.bridge);
      expect(outcome).toEqual({ ok: true, exitReason: null });
      expect(sink.status).toBe('200 OK');
      expect(sink.headers).toEqual([
        ['Content-Type', 'text/plain'],
        ['Content-Length', '14'],
      ]);
      expect(sink.text).toBe('Hello, world!\n');
      expect(sink.ended).toBe(true);
      expect(hello.bridge.busy).toBe(false);
    });

    it('handles many sequential requests in the same process', async () => {
      for (let i = 0; i < 200; i++) {
        const { outcome, sink } = await request(hello.bridge, { PATH_INFO: `/${i}` });
        expect(outcome.ok).toBe(true);
        expect(sink.text).toBe('Hello, world!\n');
      }
      expect(hello.bridge.busy).toBe(false);
    });

    it('refuses a second request while one runs', async () => {
      const first = request(hello.bridge);
      expect(() =>
        hello.bridge.run(
          { environ: environ(), body: null, contentLength: null, owner: true },
          new TestSink(),
          () => {},
        ),
      ).toThrow(/already running/);
      expect((await first).outcome.ok).toBe(true);
    });
  });

  it('builds a PEP 3333 environ that wsgiref.validate accepts', async () => {
    const t = startBridge(python, 'validate.wsgi');
    // No SCRIPT_NAME, PATH_INFO or QUERY_STRING: the bridge supplies the defaults.
    const bare = { REQUEST_METHOD: 'GET', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1' };
    const sink = new TestSink();
    const outcome = await outcomeOf(
      t.bridge,
      'run',
      { environ: bare, body: null, contentLength: null, owner: false },
      sink,
    );
    expect(outcome, t.stderr.join('\n')).toEqual({ ok: true, exitReason: null });
    const info = JSON.parse(sink.text);
    expect(info.native).toEqual([]);
    expect(info.version).toEqual([1, 0]);
    expect(info.url_scheme).toBe('http');
    expect(info.multithread).toBe(false);
    expect(info.multiprocess).toBe(true);
    expect(info.run_once).toBe(false);
    expect(info.input_terminated).toBe(true);
    expect(info.errors_is_stderr).toBe(true);
    expect(info.has_file_wrapper).toBe(true);
    expect([info.script_name, info.path_info_hex, info.query_string]).toEqual(['', '', '']);
    expect(info.name).toMatch(/^_wsgi_[0-9a-f]{8}$/);
    expect(info.file).toBe(`${APPS}validate.wsgi`);
    expect(info.argv).toEqual([`${APPS}validate.wsgi`]);
    expect(info.sys_path0).toBe(APPS.replace(/\/$/, ''));

    // A POST with a body, HTTPS, and a non-ASCII byte in PATH_INFO (é as latin-1).
    const post = await request(
      t.bridge,
      {
        REQUEST_METHOD: 'POST',
        SCRIPT_NAME: '/app',
        PATH_INFO: '/caf\u00e9',
        QUERY_STRING: 'a=1',
        CONTENT_TYPE: 'text/plain',
        CONTENT_LENGTH: '5',
        HTTPS: 'on',
      },
      Readable.from([Buffer.from('hello')]),
      {},
      5,
    );
    expect(post.outcome, t.stderr.join('\n')).toEqual({ ok: true, exitReason: null });
    const posted = JSON.parse(post.sink.text);
    expect(posted.url_scheme).toBe('https');
    expect(posted.path_info_hex).toBe('2f636166e9');
    expect(posted.body_len).toBe(5);
    const scheme = await request(t.bridge, { REQUEST_SCHEME: 'https' });
    expect(JSON.parse(scheme.sink.text).url_scheme).toBe('https');
    expect(t.stderr.filter((line) => /warning/i.test(line))).toEqual([]);
  });

  it('sends print(), fd 1/2 writes, sys.stderr and logging to the log, never the response', async () => {
    const t = startBridge(python, 'output.wsgi');
    const { outcome, sink } = await request(t.bridge);
    expect(outcome.ok).toBe(true);
    expect(sink.text).toBe('body-only');
    await t.waitForLine(/wsgi-errors-line/);
    await t.waitForLine(/logged-warning/);
    expect(t.stdout).toEqual(expect.arrayContaining(['import-time print', 'print-to-stdout', 'raw-fd1']));
    expect(t.stderr).toEqual(
      expect.arrayContaining([
        'raw-fd2',
        'unicode-stderr \u00e9\u2603',
        'WARNING app logged-warning',
        'wsgi-errors-line',
      ]),
    );
  });

  describe('wsgi.input', () => {
    let t: TestBridge;
    beforeAll(async () => {
      t = startBridge(python, 'input.wsgi');
      await t.bridge.ready;
    });
    afterAll(() => t.bridge.kill());

    const lines: string[] = [];
    for (let i = 0; i < 400; i++) lines.push('x'.repeat((i * 37) % 151));
    const data = Buffer.from(lines.join('\n') + '\nlast line without newline');
    const lineCount = lines.length + 1;
    const cases: Array<[string, number]> = [
      ['/read-n', Math.ceil(data.length / 1000)],
      ['/read-all', 1],
      ['/read-neg', 1],
      ['/readline', lineCount],
      ['/readlines', lineCount],
      ['/readlines-hint', lineCount],
      ['/iter', lineCount],
      ['/read-past-eof', 1],
    ];

    it.each(cases)('%s reads a body split over many B frames', async (path, pieces) => {
      const { outcome, sink } = await request(
        t.bridge,
        { PATH_INFO: path, REQUEST_METHOD: 'POST' },
        inPieces(data, 37),
        {},
        data.length,
      );
      expect(outcome, t.stderr.join('\n')).toEqual({ ok: true, exitReason: null });
      expect(sink.text).toBe(`${data.length} ${sha256(data)} ${pieces}`);
    });

    it('readline(limit) never returns more than the limit', async () => {
      const { outcome, sink } = await request(
        t.bridge,
        { PATH_INFO: '/readline-limit', REQUEST_METHOD: 'POST' },
        inPieces(data, 501),
        {},
        data.length,
      );
      expect(outcome, t.stderr.join('\n')).toEqual({ ok: true, exitReason: null });
      expect(sink.text.split(' ').slice(0, 2)).toEqual([String(data.length), sha256(data)]);
    });

    it('reads a body without CONTENT_LENGTH (chunked) to its end', async () => {
      const { outcome, sink } = await request(
        t.bridge,
        { PATH_INFO: '/read-all', REQUEST_METHOD: 'POST' },
        inPieces(data, 4096),
        {},
        null,
      );
      expect(outcome.ok).toBe(true);
      expect(sink.text).toBe(`${data.length} ${sha256(data)} 1`);
    });

    it('sends a small body that is already there with its R and E', async () => {
      const body = Readable.from([Buffer.from('abc\ndef')]);
      body.read(0); // let the stream buffer its data, as a front end's would be
      await new Promise((resolve) => setImmediate(resolve));
      const { outcome, sink } = await request(
        t.bridge,
        { PATH_INFO: '/readline', REQUEST_METHOD: 'POST' },
        body,
        {},
        7,
      );
      expect(outcome.ok).toBe(true);
      expect(sink.text).toBe(`7 ${sha256(Buffer.from('abc\ndef'))} 2`);
    });

    it('ignores the part of a body the app did not read, and serves the next request', async () => {
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      const hello = startBridge(python, 'hello.wsgi');
      const first = await request(hello.bridge, { REQUEST_METHOD: 'POST' }, inPieces(big, 65536), {}, big.length);
      expect(first.outcome.ok).toBe(true);
      const second = await request(hello.bridge);
      expect(second.sink.text).toBe('Hello, world!\n');
    });

    it('raises IOError in the app when the body breaks off, and fails the run as a bad request', async () => {
      let sent = 0;
      const body = new Readable({
        read() {
          sent++;
          if (sent < 5) setImmediate(() => this.push(Buffer.alloc(1000, 1)));
          else setImmediate(() => this.destroy(new Error('connection reset')));
        },
      });
      const upload = startBridge(python, 'upload.wsgi');
      const { outcome, sink } = await request(upload.bridge, { REQUEST_METHOD: 'POST' }, body, {}, 100_000);
      const { error, started } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_BAD_REQUEST');
      expect(error.message).toMatch(/connection reset/);
      expect(started).toBe(false);
      expect(sink.started).toBe(false);
      await upload.waitForLine(/aborted .*ClientDisconnected|aborted .*request body broke off/);
      // The process is still fine.
      const next = await request(upload.bridge, { REQUEST_METHOD: 'POST' }, Readable.from([Buffer.from('ok')]), {}, 2);
      expect(next.sink.text).toBe(`2 ${sha256(Buffer.from('ok'))}`);
    });
  });

  describe('start_response and exc_info', () => {
    let t: TestBridge;
    beforeAll(async () => {
      t = startBridge(python, 'excinfo.wsgi');
      await t.bridge.ready;
    });
    afterAll(() => t.bridge.kill());

    it('replaces the status with exc_info before headers were sent', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/replace' });
      expect(outcome.ok).toBe(true);
      expect(sink.status).toBe('500 Internal Server Error');
      expect(sink.text).toBe('replaced');
    });

    it('re-raises exc_info once headers were sent: X after-start', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/reraise' });
      const { error, started } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_APP_EXCEPTION');
      expect(error.message).toMatch(/KeyError: 'late-error'/);
      expect(started).toBe(true);
      expect(sink.status).toBe('200 OK');
      expect(sink.text).toBe('first');
      expect(sink.ended).toBe(false);
      expect(sink.failedWith).toBe(null); // failing the sink is the pool's job
    });

    it('refuses a second start_response without exc_info', async () => {
      const { outcome } = await request(t.bridge, { PATH_INFO: '/twice' });
      const { error, started } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_BAD_RESPONSE');
      expect(error.message).toMatch(/start_response\(\) called a second time/);
      expect(started).toBe(false);
    });

    it('write() sends data before the returned iterable', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/write' });
      expect(outcome.ok).toBe(true);
      expect(sink.text).toBe('written-returned');
    });
  });

  // Frameworks answer with an iterable object, which the bridge sends by another path than a list.
  describe.each([
    ['a list', ''],
    ['an iterable object', 'iterable'],
  ])('app errors and WSGI contract violations, the body in %s', (_, query) => {
    let t: TestBridge;
    beforeAll(async () => {
      t = startBridge(python, 'errors.wsgi');
      await t.bridge.ready;
    });
    afterAll(() => t.bridge.kill());

    it('an exception before start is X before-start with the app traceback', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/before', QUERY_STRING: query });
      const { error, started } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_APP_EXCEPTION');
      expect(error.message).toBe('RuntimeError: before-start-boom');
      expect(started).toBe(false);
      expect(sink.started).toBe(false);
      expect(error.ownerDetail).toMatch(/errors\.wsgi", line \d+, in answer/);
      expect(error.ownerDetail).toMatch(/in fail_here/);
      expect(error.ownerDetail).not.toMatch(/wsgi_bridge\.py/);
    });

    it('an exception mid-stream is X after-start', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/midstream', QUERY_STRING: query });
      const { error, started } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_APP_EXCEPTION');
      expect(error.message).toBe('RuntimeError: mid-boom');
      expect(started).toBe(true);
      expect(sink.text).toBe('partial');
    });

    const violations: Array<[string, RegExp]> = [
      ['/bad-status', /status must be "NNN Reason"/],
      ['/hop', /Connection is hop-by-hop/],
      ['/crlf', /CR, LF or NUL/],
      ['/bad-name', /not a valid HTTP token/],
      ['/header-type', /header name and value must be str/],
      ['/not-latin1', /latin-1|must be str/],
      ['/str-body', /body must be bytes.*text instead of bytes/],
      ['/no-start', /without calling start_response/],
      ['/none', /returned None instead of an iterable/],
      ['/head-short', /fewer than its Content-Length/],
    ];
    it.each(violations)('%s is a bad-response before start', async (path, message) => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: path, QUERY_STRING: query });
      const { error, started } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_BAD_RESPONSE');
      expect(error.message).toMatch(message);
      expect(started).toBe(false);
      expect(sink.started).toBe(false);
    });

    it('a traceback of a header violation ends at the app line that called start_response', async () => {
      const { outcome } = await request(t.bridge, { PATH_INFO: '/hop', QUERY_STRING: query });
      expect(failure(outcome).error.ownerDetail).toMatch(/errors\.wsgi", line \d+, in answer/);
    });

    it('a body shorter than Content-Length is a bad-response after start', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/short', QUERY_STRING: query });
      const { error, started } = failure(outcome);
      expect(error.code).toBe('WSGIKIT_BAD_RESPONSE');
      expect(error.message).toMatch(/5 bytes, fewer than its Content-Length \(10\)/);
      expect(started).toBe(true);
      expect(sink.text).toBe('12345');
    });

    it('a HEAD response may declare a Content-Length without a body', async () => {
      const { outcome, sink } = await request(t.bridge, {
        PATH_INFO: '/head-short',
        REQUEST_METHOD: 'HEAD',
        QUERY_STRING: query,
      });
      expect(outcome.ok).toBe(true);
      expect(sink.header('content-length')).toBe('10');
    });

    it('a body longer than Content-Length is cut and logged', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/long', QUERY_STRING: query });
      expect(outcome.ok).toBe(true);
      expect(sink.text).toBe('12345');
      await t.waitForLine(/wsgikit: warning: response to GET \/long is longer than its Content-Length/);
    });

    it('an empty 204 sends its status at the end', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/empty', QUERY_STRING: query });
      expect(outcome.ok).toBe(true);
      expect(sink.status).toBe('204 No Content');
      expect(sink.bytes).toBe(0);
      expect(sink.ended).toBe(true);
    });
  });

  it("reports an app's exception with the real traceback module when the app's folder has its own traceback.py", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'wsgikit-shadow-'));
    writeFileSync(join(folder, 'traceback.py'), 'raise ImportError("the app\'s traceback.py was imported")\n');
    writeFileSync(
      join(folder, 'shadow.wsgi'),
      'def application(environ, start_response):\n    raise RuntimeError("shadowed")\n',
    );
    const t = startBridge(python, join(folder, 'shadow.wsgi'));
    try {
      await t.bridge.ready;
      const { error } = failure((await request(t.bridge, {})).outcome);
      expect(error.message).toBe('RuntimeError: shadowed');
      expect(error.ownerDetail).toMatch(/shadow\.wsgi", line 2, in application/);
      expect(error.ownerDetail).not.toMatch(/traceback\.py was imported/);
    } finally {
      t.bridge.kill();
      rmSync(folder, { recursive: true, force: true });
    }
  });

  describe('load failures', () => {
    const cases: Array<[string, string, RegExp, RegExp | null]> = [
      ['does-not-exist.wsgi', 'file', /cannot read .*does-not-exist\.wsgi/, null],
      [
        'load-syntax.wsgi',
        'syntax',
        /^load-syntax\.wsgi line [12]: SyntaxError: (?!.*wsgi, line).*; fix the file/,
        /SyntaxError/,
      ],
      [
        'load-import.wsgi',
        'import',
        /raised (ModuleNotFound|Import)Error: No module named .*no_such_module_for_wsgikit.*install it for/,
        /load-import\.wsgi", line 1/,
      ],
      ['load-raise.wsgi', 'import', /raised ValueError: bad config value while loading/, /load-raise\.wsgi", line 1/],
      ['load-exit.wsgi', 'import', /raised SystemExit: 4/, /sys\.exit/],
      ['load-noapp.wsgi', 'no-application', /defines no `application`: add `application = app`/, null],
      ['load-notcallable.wsgi', 'not-callable', /`application` in load-notcallable\.wsgi is a str/, null],
    ];
    it.each(cases)('%s → F %s, exit 3', async (app, kind, summary, detail) => {
      const t = startBridge(python, app);
      const error = await t.bridge.ready.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AppLoadError);
      const loadError = error as AppLoadError;
      expect(loadError.code).toBe('WSGIKIT_APP_LOAD_FAILED');
      expect(loadError.loadKind).toBe(kind);
      expect(loadError.message).toMatch(summary);
      if (detail) expect(loadError.ownerDetail).toMatch(detail);
      expect(loadError.ownerDetail ?? '').not.toMatch(/wsgi_bridge\.py/);
      expect(await t.bridge.exited).toEqual({ code: 3, signal: null });
      // A run asked for later gets the same error.
      const { outcome } = await request(t.bridge);
      expect(failure(outcome).error).toBe(loadError);
    });

    it('a request written while the app loads gets the load error (the CGI path)', async () => {
      const t = startBridge(python, 'load-import.wsgi', { mode: 'oneshot' });
      const { outcome } = await request(t.bridge);
      const { error, started } = failure(outcome);
      expect(error).toBeInstanceOf(AppLoadError);
      expect(started).toBe(false);
      expect((await t.bridge.exited).code).toBe(3);
    });
  });

  // A gate is a path an app waits on until the test makes it; send() starts a request without
  // waiting for its outcome.
  const gates: string[] = [];
  const gate = (): string => {
    const path = join(tmpdir(), `wsgikit-gate-${process.pid}-${Date.now()}-${gates.length}`);
    gates.push(path);
    return path;
  };
  afterAll(() => {
    for (const path of gates) rmSync(path, { force: true });
  });

  function send(
    bridge: TestBridge['bridge'],
    path: string,
    query = '',
    how: 'run' | 'queue' = 'run',
    sink = new TestSink(),
  ): { sink: TestSink; outcome: Promise<RunOutcome> } {
    const req = {
      environ: environ({ PATH_INFO: path, QUERY_STRING: query }),
      body: null,
      contentLength: null,
      owner: true,
    };
    return { sink, outcome: outcomeOf(bridge, how, req, sink) };
  }

  describe('close() of the response iterable', () => {
    let t: TestBridge;
    beforeAll(async () => {
      t = startBridge(python, 'close.wsgi');
      await t.bridge.ready;
    });
    afterAll(() => t.bridge.kill());

    it('is called at the normal end', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/normal', QUERY_STRING: 'normal-end' });
      expect(outcome.ok).toBe(true);
      expect(sink.text).toBe('onetwo');
      await t.waitForLine(/^CLOSED normal-end$/);
    });

    it('sends a whole body before asking the iterable for more, and Z once it has ended', async () => {
      const open = gate();
      const { sink, outcome } = send(t.bridge, '/wait', open);
      await eventually(() => sink.text === 'first', 'the whole body before the iterable ends');
      expect(sink.ended).toBe(false);
      writeFileSync(open, '');
      expect(await outcome).toEqual({ ok: true, exitReason: null });
      expect(sink.ended).toBe(true);
      await t.waitForLine(new RegExp(`^CLOSED ${open}$`));
    });

    it('is called when the iterable raises', async () => {
      const { outcome } = await request(t.bridge, { PATH_INFO: '/raise', QUERY_STRING: 'on-exception' });
      expect(failure(outcome).error.message).toBe('RuntimeError: iter-boom');
      await t.waitForLine(/^CLOSED on-exception$/);
    });

    it('is called when the client goes away mid-download of an endless body', async () => {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: '/infinite', QUERY_STRING: 'on-abort' }, null, {
        keepBody: false,
        closeAfterBytes: 1024 * 1024,
        backpressureEvery: 5,
      });
      expect(outcome).toEqual({ ok: true, exitReason: null });
      expect(sink.bytes).toBeGreaterThanOrEqual(1024 * 1024);
      expect(sink.writesAfterClose).toBe(0);
      expect(sink.ended).toBe(false);
      await t.waitForLine(/^CLOSED on-abort$/);
      const next = await request(t.bridge, { PATH_INFO: '/normal', QUERY_STRING: 'after-abort' });
      expect(next.sink.text).toBe('onetwo');
    });
  });

  it('wsgi.file_wrapper sends a file (sendfile), from its offset, and a file-like in blocks', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'wsgikit-fw-'));
    const data = Buffer.alloc(3 * 1024 * 1024 + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 10)) & 0xff;
    const file = join(dir, 'data.bin');
    writeFileSync(file, data);
    const t = startBridge(python, 'filewrapper.wsgi');
    for (const [path, expected] of [
      ['/file', data],
      ['/offset', data.subarray(100)],
      ['/bytesio', data],
    ] as const) {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: path, QUERY_STRING: file }, null, {
        backpressureEvery: 3,
      });
      expect(outcome, `${path}: ${t.stderr.join('\n')}`).toEqual({ ok: true, exitReason: null });
      expect(sink.bytes).toBe(expected.length);
      expect(sink.sha256).toBe(sha256(expected));
    }
  });

  it('--offload-files: a whole regular file becomes X-Sendfile and no body; anything else is sent', async () => {
    const { mkdtempSync, realpathSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'wsgikit-fw-offload-')));
    const data = Buffer.from('offloaded by the web server\n'.repeat(1000));
    const file = join(dir, 'data file.bin');
    writeFileSync(file, data);
    const t = startBridge(python, 'filewrapper.wsgi', { offloadFiles: true });
    const whole = await request(t.bridge, { PATH_INFO: '/file', QUERY_STRING: file });
    expect(whole.outcome, t.stderr.join('\n')).toEqual({ ok: true, exitReason: null });
    expect(whole.sink.headers).toEqual([
      ['Content-Type', 'application/octet-stream'],
      ['X-Sendfile', file],
    ]);
    expect(whole.sink.bytes).toBe(0);
    for (const [path, expected] of [
      ['/offset', data.subarray(100)],
      ['/bytesio', data],
    ] as const) {
      const { outcome, sink } = await request(t.bridge, { PATH_INFO: path, QUERY_STRING: file });
      expect(outcome).toEqual({ ok: true, exitReason: null });
      expect(sink.headers.map(([name]) => name)).not.toContain('X-Sendfile');
      expect(sink.sha256).toBe(sha256(expected));
    }
  });

  it('oneshot mode sets wsgi.run_once and exits 0 after its request', async () => {
    const t = startBridge(python, 'validate.wsgi', { mode: 'oneshot' });
    const { outcome, sink } = await request(t.bridge); // written before the app is loaded
    expect(outcome).toEqual({ ok: true, exitReason: null });
    expect(JSON.parse(sink.text).run_once).toBe(true);
    expect(await t.bridge.exited).toEqual({ code: 0, signal: null });
  });

  it('stop() lets the bridge exit 0', async () => {
    const t = startBridge(python, 'hello.wsgi');
    await t.bridge.ready;
    t.bridge.stop();
    expect(await t.bridge.exited).toEqual({ code: 0, signal: null });
  });

  describe('queued requests (Q) and taking them back', () => {
    it('runs a queued request after the running one, in order', async () => {
      const t = startBridge(python, 'gate.wsgi', { queueing: true });
      await t.bridge.ready;
      const open = gate();
      const first = send(t.bridge, '/wait', open);
      const req = { environ: environ(), body: null, contentLength: null, owner: true };
      expect(t.bridge.canQueue(req)).toBe(true);
      const second = send(t.bridge, '/second', '', 'queue');
      expect(t.bridge.hasQueued).toBe(true);
      expect(t.bridge.canQueue(req)).toBe(false); // one at a time
      writeFileSync(open, '');
      const order: string[] = [];
      await Promise.all([
        first.outcome.then(() => order.push('first')),
        second.outcome.then(() => order.push('second')),
      ]);
      expect(order).toEqual(['first', 'second']);
      expect(await second.outcome).toEqual({ ok: true, exitReason: null });
      expect(second.sink.text).toBe(`${t.bridge.pid} /second`);
      expect(t.bridge.busy).toBe(false);
    });

    it('takes back a queued request the bridge has not started; the bridge skips it and goes on', async () => {
      const t = startBridge(python, 'gate.wsgi', { queueing: true });
      await t.bridge.ready;
      const open = gate();
      const first = send(t.bridge, '/wait', open);
      const second = send(t.bridge, '/second', '', 'queue');
      expect(t.bridge.takeBack()).toEqual([second.sink]);
      expect(await second.outcome).toEqual({ ok: true, exitReason: null, takenBack: true });
      expect(t.bridge.hasQueued).toBe(false);
      writeFileSync(open, '');
      expect((await first.outcome).ok).toBe(true);
      expect(second.sink.started).toBe(false);
      // Past the skipped one (its K has come), R and Q both still work: the tokens stay in step.
      const again = gate();
      const third = send(t.bridge, '/wait', again);
      const req = { environ: environ(), body: null, contentLength: null, owner: true };
      await eventually(() => t.bridge.canQueue(req), 'the K of the skipped request');
      const fourth = send(t.bridge, '/fourth', '', 'queue');
      writeFileSync(again, '');
      expect((await third.outcome).ok).toBe(true);
      expect(await fourth.outcome).toEqual({ ok: true, exitReason: null });
      expect(fourth.sink.text).toBe(`${t.bridge.pid} /fourth`);
    });

    it('a queued request whose client leaves is taken back, not started', async () => {
      const t = startBridge(python, 'gate.wsgi', { queueing: true });
      await t.bridge.ready;
      const open = gate();
      const first = send(t.bridge, '/wait', open);
      const second = send(t.bridge, '/second', '', 'queue');
      second.sink.close();
      expect(await second.outcome).toEqual({ ok: true, exitReason: null, takenBack: true });
      writeFileSync(open, '');
      expect((await first.outcome).ok).toBe(true);
      expect((await send(t.bridge, '/after').outcome).ok).toBe(true);
    });

    it('an abort of the running request does not reach the request queued behind it', async () => {
      const t = startBridge(python, 'gate.wsgi', { queueing: true });
      await t.bridge.ready;
      const streaming = send(t.bridge, '/stream', '', 'run', new TestSink({ closeAfterBytes: 10 }));
      const queued = send(t.bridge, '/two', '', 'queue');
      expect((await streaming.outcome).ok).toBe(true); // aborted by its client: no error to report
      expect(await queued.outcome).toEqual({ ok: true, exitReason: null });
      expect(queued.sink.text).toBe(`${t.bridge.pid} /two two`);
      expect(queued.sink.ended).toBe(true);
    });

    it('a queued request the bridge never started comes back when the process ends', async () => {
      const t = startBridge(python, 'gate.wsgi', { queueing: true });
      await t.bridge.ready;
      const first = send(t.bridge, '/wait', gate());
      const second = send(t.bridge, '/second', '', 'queue');
      t.bridge.kill();
      expect(failure(await first.outcome).error.code).toBe('WSGIKIT_WORKER_CRASHED');
      expect(await second.outcome).toEqual({ ok: true, exitReason: null, takenBack: true });
    });
  });
});
