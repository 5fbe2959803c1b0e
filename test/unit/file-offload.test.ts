// The checks on a file an app names (src/pool/file-offload.ts), on real files in a temp folder:
// modes, owners (a throwaway uid: the tests run as root, who may read anything), symlinks. And the
// headers given to the web server, and wsgikit's own sending when there is none.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsgikitError, withFix } from '../../src/errors.js';
import type { ResponseHeaders, ResponseSink } from '../../src/exchange.js';
import { sendfileModeProblem, type OffloadPolicy } from '../../src/app/sendfile-settings.js';
import { configFromGuide } from '../helpers/servers.js';
import {
  answerWithFile,
  checkFile,
  hasOffloadHeader,
  requestedFile,
  serverHeader,
} from '../../src/pool/file-offload.js';

/** Not in /etc/passwd: no groups but its own. */
const UID = 12345;
const isRoot = process.getuid?.() === 0;

let home: string;
let outside: string;

function policy(over: Partial<OffloadPolicy> = {}): OffloadPolicy {
  return { mode: 'none', map: [], roots: [home], uid: UID, groups: new Set([UID]), ...over };
}

async function refusal(promise: Promise<unknown>): Promise<WsgikitError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(WsgikitError);
    expect((error as WsgikitError).code).toBe('WSGIKIT_SENDFILE_REFUSED');
    expect((error as WsgikitError).status).toBe(403);
    return error as WsgikitError;
  }
  throw new Error('expected a refusal');
}

function syncRefusal(fn: () => unknown): WsgikitError {
  return (() => {
    try {
      fn();
    } catch (error) {
      expect((error as WsgikitError).code).toBe('WSGIKIT_SENDFILE_REFUSED');
      return error as WsgikitError;
    }
    throw new Error('expected a refusal');
  })();
}

beforeAll(() => {
  home = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-offload-home-')));
  outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-offload-outside-')));
  for (const dir of [home, outside]) fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(home, 'files'), { mode: 0o755 });
  fs.mkdirSync(path.join(home, 'closed'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, 'files', 'ok.txt'), 'hello offload\n', { mode: 0o644 });
  fs.writeFileSync(path.join(home, 'files', 'mine.txt'), 'mine\n', { mode: 0o600 });
  fs.writeFileSync(path.join(home, 'files', 'root-only.txt'), 'root only\n', { mode: 0o600 });
  fs.writeFileSync(path.join(home, 'closed', 'open.txt'), 'open file, closed folder\n', { mode: 0o644 });
  fs.writeFileSync(path.join(home, 'files', 'a b%.txt'), 'odd name\n', { mode: 0o644 });
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'secret\n', { mode: 0o644 });
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(home, 'files', 'link-out.txt'));
  fs.symlinkSync(path.join(home, 'files', 'ok.txt'), path.join(home, 'files', 'link-in.txt'));
  execFileSync('mkfifo', [path.join(home, 'files', 'fifo')]);
  if (isRoot) fs.chownSync(path.join(home, 'files', 'mine.txt'), UID, UID);
});

afterAll(() => {
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

describe('hasOffloadHeader', () => {
  it('finds each header a web server acts on, in any case, and nothing else', () => {
    for (const name of ['X-Sendfile', 'x-accel-redirect', 'X-LIGHTTPD-send-file', 'X-Sendfile2']) {
      expect(
        hasOffloadHeader([
          ['Content-Type', 'text/plain'],
          [name, '/x'],
        ]),
      ).toBe(true);
    }
    expect(
      hasOffloadHeader([
        ['Content-Type', 'text/plain'],
        ['X-Sendfilez', '/x'],
        ['Location', '/x'],
      ]),
    ).toBe(false);
  });
});

describe('requestedFile', () => {
  const map = [
    { from: '/home/alice/media/', to: '/_media/' },
    { from: '/home/', to: '/_files/' },
  ];

  it('takes X-Sendfile as the UTF-8 its latin-1 bytes spell', () => {
    const value = Buffer.from('/home/alice/été.txt', 'utf8').toString('latin1');
    expect(requestedFile([['X-Sendfile', value]], policy())).toBe('/home/alice/été.txt');
  });

  it("maps an app's X-Accel-Redirect back through the longest internal prefix", () => {
    expect(requestedFile([['X-Accel-Redirect', '/_media/a%20b.mp4']], policy({ map }))).toBe(
      '/home/alice/media/a b.mp4',
    );
    expect(requestedFile([['X-Accel-Redirect', '/_files/bob/x']], policy({ map }))).toBe('/home/bob/x');
  });

  it('refuses an X-Accel-Redirect outside the map, with a query, or with a broken escape', () => {
    expect(syncRefusal(() => requestedFile([['X-Accel-Redirect', '/protected/x']], policy({ map }))).message).toContain(
      'not a file under an internal prefix',
    );
    syncRefusal(() => requestedFile([['X-Accel-Redirect', '/_files/x?y=1']], policy({ map })));
    syncRefusal(() => requestedFile([['X-Accel-Redirect', '/_files/%zz']], policy({ map })));
  });

  it('refuses X-Sendfile2, X-LIGHTTPD-send-file, and two headers at once', () => {
    expect(syncRefusal(() => requestedFile([['X-Sendfile2', '/x 0-1']], policy())).message).toContain(
      'X-Sendfile2 is not passed on',
    );
    syncRefusal(() => requestedFile([['X-LIGHTTPD-send-file', '/x']], policy()));
    syncRefusal(() =>
      requestedFile(
        [
          ['X-Sendfile', '/a'],
          ['X-Sendfile', '/b'],
        ],
        policy(),
      ),
    );
  });
});

describe('checkFile', () => {
  it('accepts a readable regular file inside the roots, and gives its real path', async () => {
    const checked = await checkFile(path.join(home, 'files', 'link-in.txt'), policy());
    expect(checked.real).toBe(path.join(home, 'files', 'ok.txt'));
    expect(checked.stat.size).toBe('hello offload\n'.length);
  });

  it('refuses a relative path and a ".." segment, even one that stays inside', async () => {
    expect((await refusal(checkFile('files/ok.txt', policy()))).message).toContain('not an absolute path');
    expect((await refusal(checkFile(`${home}/files/../files/ok.txt`, policy()))).message).toContain('".." segment');
  });

  it('refuses a file outside the roots, and a symlink that leads out', async () => {
    expect((await refusal(checkFile(path.join(outside, 'secret.txt'), policy()))).message).toContain(
      'outside the folders this app may use',
    );
    const link = await refusal(checkFile(path.join(home, 'files', 'link-out.txt'), policy()));
    expect(link.message).toContain(`through a symlink, ${path.join(outside, 'secret.txt')}`);
  });

  it('refuses what is not a regular file, and what is not there', async () => {
    expect((await refusal(checkFile(path.join(home, 'files'), policy()))).message).toContain('not a regular file');
    expect((await refusal(checkFile(path.join(home, 'files', 'fifo'), policy()))).message).toContain(
      'not a regular file',
    );
    expect((await refusal(checkFile(path.join(home, 'files', 'nope.txt'), policy()))).message).toContain(
      'no such file',
    );
  });

  it.skipIf(!isRoot)(
    "refuses a file the app's uid may not read, and one behind a folder it may not search",
    async () => {
      const unreadable = await refusal(checkFile(path.join(home, 'files', 'root-only.txt'), policy()));
      expect(unreadable.message).toContain(`the app's user (uid ${UID}) may not read`);
      expect(unreadable.message).toContain('Fix: chmod u+r');
      const closed = await refusal(checkFile(path.join(home, 'closed', 'open.txt'), policy()));
      expect(closed.message).toContain(`may not search ${path.join(home, 'closed')}`);
    },
  );

  it.skipIf(!isRoot)("accepts the uid's own file of mode 600, and a group-readable one for a member", async () => {
    await checkFile(path.join(home, 'files', 'mine.txt'), policy());
    const groupFile = path.join(home, 'files', 'group.txt');
    fs.writeFileSync(groupFile, 'group\n', { mode: 0o640 });
    fs.chownSync(groupFile, 0, 4242);
    await refusal(checkFile(groupFile, policy()));
    await checkFile(groupFile, policy({ groups: new Set([UID, 4242]) }));
  });
});

describe('serverHeader', () => {
  it('x-sendfile: the real path as is, and a refusal for a "%" the servers would read differently', () => {
    const p = policy({ mode: 'x-sendfile' });
    expect(serverHeader('/home/alice/a b?.txt', p)).toEqual(['X-Sendfile', '/home/alice/a b?.txt']);
    expect(syncRefusal(() => serverHeader('/home/alice/a b%41.txt', p)).message).toContain(
      'rename the file without "%"',
    );
  });

  it('x-accel-redirect: the longest mapped prefix, the rest %-encoded per segment', () => {
    const map = [
      { from: '/home/alice/media/', to: '/_media/' },
      { from: '/home/', to: '/_files/' },
    ];
    const p = policy({ mode: 'x-accel-redirect', map });
    expect(serverHeader('/home/alice/media/a b?.mp4', p)).toEqual(['X-Accel-Redirect', '/_media/a%20b%3F.mp4']);
    expect(serverHeader('/home/bob/x.txt', p)).toEqual(['X-Accel-Redirect', '/_files/bob/x.txt']);
    expect(syncRefusal(() => serverHeader('/srv/x.txt', p)).message).toContain('under no filesystem prefix');
  });
});

/** A sink that records what it is told. */
function recordingSink() {
  const seen = {
    status: '',
    headers: [] as ResponseHeaders,
    body: [] as Buffer[],
    ended: false,
    error: null as WsgikitError | null,
  };
  const sink: ResponseSink = {
    start(status, headers) {
      seen.status = status;
      seen.headers = headers;
    },
    write(chunk) {
      seen.body.push(chunk);
      return true;
    },
    onDrain() {},
    end() {
      seen.ended = true;
    },
    fail(error) {
      seen.error = error;
    },
    onClose() {},
    get started() {
      return seen.status !== '';
    },
  };
  return { seen, sink };
}

describe('answerWithFile', () => {
  const request = (file: string, method = 'GET') => ({
    status: '200 OK',
    headers: [
      ['Content-Type', 'text/plain'],
      ['Content-Length', '3'],
      ['X-Sendfile', file],
    ] as Array<[string, string]>,
    method,
    label: `${method} /download`,
  });

  it('sendfile = "none": sends the file itself, with its Content-Length and without the offload header', async () => {
    const { seen, sink } = recordingSink();
    await answerWithFile(request(path.join(home, 'files', 'ok.txt')), policy({ uid: 0 }), sink, () => 'X');
    await new Promise<void>((resolve) => {
      const wait = () => (seen.ended || seen.error ? resolve() : setImmediate(wait));
      wait();
    });
    expect(seen.error).toBeNull();
    expect(seen.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['Content-Length', String('hello offload\n'.length)],
    ]);
    expect(Buffer.concat(seen.body).toString()).toBe('hello offload\n');
  });

  it('sendfile = "none": a HEAD gets the head only', async () => {
    const { seen, sink } = recordingSink();
    await answerWithFile(request(path.join(home, 'files', 'ok.txt'), 'HEAD'), policy({ uid: 0 }), sink, () => 'X');
    expect(seen.ended).toBe(true);
    expect(seen.body).toEqual([]);
  });

  it('a web server mode: the head with the server header, no body', async () => {
    const { seen, sink } = recordingSink();
    await answerWithFile(
      request(path.join(home, 'files', 'link-in.txt')),
      policy({ uid: 0, mode: 'x-sendfile' }),
      sink,
      () => 'X',
    );
    expect(seen.headers).toEqual([
      ['Content-Type', 'text/plain'],
      ['X-Sendfile', path.join(home, 'files', 'ok.txt')],
    ]);
    expect(seen.body).toEqual([]);
    expect(seen.ended).toBe(true);
  });

  it('a refusal is reported (its incident on the error) and answered with the 403, never the file', async () => {
    const { seen, sink } = recordingSink();
    const reported: string[] = [];
    await answerWithFile(request(path.join(outside, 'secret.txt')), policy({ uid: 0 }), sink, (line) => {
      reported.push(line);
      return 'ABCD-EFGH-JK';
    });
    expect(seen.status).toBe('');
    expect(seen.error?.status).toBe(403);
    expect(seen.error?.incident).toBe('ABCD-EFGH-JK');
    expect(reported).toEqual([expect.stringContaining('GET /download: file not sent: X-Sendfile:')]);
  });
});

describe('docs/file-offload.md', () => {
  it('shows the message wsgi-fcgi --sendfile x-accel-redirect prints without a map', () => {
    expect(configFromGuide('file-offload.md', 'usage-message', [])).toBe(
      `wsgi-fcgi: --sendfile x-accel-redirect: ${withFix(sendfileModeProblem('x-accel-redirect', [])!)} in /etc/wsgikit/host.toml\n`,
    );
  });
});
