// The apps every target serves, and the folders they live in. One plain WSGI app ("hello") answers
// the hello workload and, by query string (so that no server's PATH_INFO layout matters), the
// others: ?slow=S sleeps S seconds, ?upload reads the body to its end and answers its length,
// ?download=N streams N bytes. The Flask app answers every path. Each target gets the same source.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirs, userIds } from '../test/helpers/servers.js';
import { PYTHON } from './common.js';

export const HELLO = `import time

CHUNK = b'x' * 65536


def application(environ, start_response):
    query = environ.get('QUERY_STRING', '')
    if query.startswith('slow='):
        time.sleep(float(query[5:]))
    elif query == 'upload':
        body = environ['wsgi.input']
        size = 0
        while True:
            block = body.read(65536)
            if not block:
                break
            size += len(block)
        answer = b'%d\\n' % size
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(answer)))])
        return [answer]
    elif query.startswith('download='):
        size = int(query[9:])
        start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(size))])
        return download(size)
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '12')])
    return [b'Hello world\\n']


def download(size):
    full, rest = divmod(size, len(CHUNK))
    for _ in range(full):
        yield CHUNK
    if rest:
        yield CHUNK[:rest]
`;

export const FLASK = `from flask import Flask

app = Flask(__name__)


@app.route('/', defaults={'path': ''})
@app.route('/<path:path>')
def index(path):
    return 'Hello from Flask'


application = app
`;

export const APPS = { hello: HELLO, flask: FLASK } as const;
export type AppName = keyof typeof APPS;
/** Module names for the anchors (a module named flask would shadow the package). */
export const MODULE: Record<AppName, string> = { hello: 'hello_app', flask: 'flask_app' };

export const WWW_DATA = userIds('www-data');

/** Temp folders the benchmark made, removed at the end. */
const made: string[] = [];

/** A fresh folder (under `parent`, default the temp dir) that www-data can enter; removed by cleanUp(). */
export function benchDir(name: string, parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, `wsgikit-bench-${name}-`));
  chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

export function cleanUpDirs(): void {
  if (process.env.WSGIKIT_KEEP_BENCH) return;
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A folder www-data may write (the apps' logs), 700. */
export function wwwDataDir(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (WWW_DATA) chownSync(path, WWW_DATA.uid, WWW_DATA.gid);
  return path;
}

/**
 * `DIR/NAME` (a .wsgi) with the app's source (one of APPS, or `{ source }`) and its sidecar
 * `NAME.toml`: `settings` lines, the log folder and the interpreter every target uses.
 */
export function wsgiFile(
  file: string,
  app: AppName | { source: string },
  logDir: string,
  settings: string[] = [],
  firstLine = '',
): string {
  const source = typeof app === 'string' ? APPS[app] : app.source;
  writeFileSync(file, (firstLine ? `${firstLine}\n` : '') + source, { mode: 0o755 });
  writeFileSync(`${file}.toml`, [`log_dir = "${logDir}"`, `python = "${PYTHON}"`, ...settings].join('\n') + '\n', {
    mode: 0o644,
  });
  return file;
}

/** The apps as Python modules (hello_app.py, flask_app.py) for the anchors, byte-compiled ahead. */
export function moduleDir(dir: string): string {
  mkdirs(dir);
  for (const app of Object.keys(APPS) as AppName[]) writeFileSync(join(dir, `${MODULE[app]}.py`), APPS[app]);
  execFileSync(PYTHON, ['-m', 'compileall', '-q', dir]);
  return dir;
}
