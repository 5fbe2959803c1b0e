#!/usr/bin/env node
// The CGI program's entry (dist/wsgi-cgi.cjs): runs the wsgi-cgi bundle (dist/wsgi-cgi-main.cjs)
// through V8's code cache. A CGI program starts once per request, and without the cache V8 parses
// the bundle and compiles every function it runs, anew each time.
//
// The cache is the user's own: ~/.wsgikit/cache/, written by the first request that has none (or a
// stale one) when it exits, so it holds the functions a real request ran. It is code, so it is used
// only when this user owns it and no one else may write it. Anything wrong with it (missing,
// unreadable, made for another bundle or Node, rejected by V8) costs only the cache: the bundle is
// compiled from source as if there were none.

import process from 'node:process';
import { Buffer, isAscii } from 'node:buffer';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { shortHash } from '../short-hash.js';

const bundle = fileURLToPath(new URL('./wsgi-cgi-main.cjs', import.meta.url));
const { source, stat } = readBundle(bundle);
// V8 checks its own version, its flags and the source's length; the rest is ours to check.
const stamp = `wsgikit code cache 1 ${process.version} ${process.arch} ${stat.size} ${stat.mtimeMs} ${stat.ino}\n`;
const cacheFile = cachePath();
const cached = cacheFile === null ? undefined : readCache(cacheFile);

// The CommonJS module wrapper; a shebang line becomes a comment of the same length.
const script = new Script(
  `(function (exports, require, module, __filename, __dirname) { ${source.replace(/^#!/, '//')}\n})`,
  { filename: bundle, cachedData: cached },
);
if (cacheFile !== null && (cached === undefined || script.cachedDataRejected)) {
  process.once('exit', () => writeCache(cacheFile));
}
const main = script.runInThisContext() as (...args: unknown[]) => void;
const mod = { exports: {}, filename: bundle, id: bundle };
main.call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));

function readBundle(file: string): { source: string; stat: { size: number; mtimeMs: number; ino: number } } {
  const fd = openSync(file, 'r');
  try {
    const data = readFileSync(fd);
    // The build makes it ASCII, and latin1 is then the same text without a UTF-8 decoding pass.
    return { stat: fstatSync(fd), source: data.toString(isAscii(data) ? 'latin1' : 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/** One cache file per installed bundle, so that two installs used by one user do not take turns. */
function cachePath(): string | null {
  try {
    return join(userInfo().homedir, '.wsgikit', 'cache', `wsgi-cgi-${shortHash(bundle)}.v8`);
  } catch {
    return null; // no password entry or no home
  }
}

function readCache(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const st = fstatSync(fd);
    if (st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) return undefined;
    const data = readFileSync(fd);
    if (data.subarray(0, stamp.length).toString('latin1') !== stamp) return undefined;
    return data.subarray(stamp.length);
  } catch {
    return undefined; // none yet, or unreadable: compiled from source
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeCache(file: string): void {
  try {
    const data = script.createCachedData();
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // Written aside and renamed: a request starting meanwhile reads the old cache or the new one.
    const temp = `${file}.${process.pid}`;
    writeFileSync(temp, Buffer.concat([Buffer.from(stamp, 'latin1'), data]), { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    // no cache this time: the next request compiles from source again
  }
}
