// Files an app names instead of sending (X-Sendfile, or wsgi.file_wrapper over a real file when the
// host offloads): checked here, in Node, because everything on the Python side is the app's to
// control. A file is sent only if the app's owner could have read it itself: inside the roots the
// app was accepted under once every symlink is resolved, a regular file, readable by the uid the
// workers run as, through folders that uid may search. Then the web server sends it (X-Sendfile,
// or X-Accel-Redirect through [sendfile_map]) or, with sendfile = "none", wsgikit streams it.
// Anything else gets a 403 and a line with an incident id in the app's log, never the file.
//
// Offload headers the server would act on never pass through unchecked: an X-Accel-Redirect under a
// mapped internal prefix is mapped back to its file and checked like X-Sendfile; X-Sendfile2 and
// X-LIGHTTPD-send-file (ranges of a file, a second name) are always refused.

import { Buffer } from 'node:buffer';
import { constants, promises as fsp, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { findRoot } from '../app/locate.js';
import type { OffloadPolicy, SendfileMapping } from '../app/sendfile-settings.js';
import { modeAllows } from '../os/access.js';
import { shellQuote } from '../os/shell-quote.js';
import { WsgikitError } from '../errors.js';
import type { ResponseHeaders, ResponseSink } from '../exchange.js';
import { bytesRead } from '../read-buffers.js';

const OFFLOAD_HEADERS: ReadonlySet<string> = new Set([
  'x-sendfile',
  'x-sendfile2',
  'x-accel-redirect',
  'x-lighttpd-send-file',
]);

/** Whether the headers hold one the web server would act on. On every response: lengths first. */
export function hasOffloadHeader(headers: ResponseHeaders): boolean {
  for (const [name] of headers) {
    const n = name.length;
    if ((n === 10 || n === 11 || n === 16 || n === 20) && OFFLOAD_HEADERS.has(name.toLowerCase())) return true;
  }
  return false;
}

export function sendfileRefused(problem: string, fix?: string): WsgikitError {
  return new WsgikitError('WSGIKIT_SENDFILE_REFUSED', problem, { fix });
}

/**
 * The absolute path the app's offload header names, or a refusal. Header values are latin-1 byte
 * strings; a path is the UTF-8 those bytes spell.
 */
export function requestedFile(headers: ResponseHeaders, policy: OffloadPolicy): string {
  const named = headers.filter(([name]) => OFFLOAD_HEADERS.has(name.toLowerCase()));
  if (named.length !== 1) {
    throw sendfileRefused(
      `The response names a file in ${named.length} headers (${named.map(([n]) => n).join(', ')}).`,
      `send one X-Sendfile header with the file's absolute path.`,
    );
  }
  const [name, raw] = named[0]!;
  const value = Buffer.from(raw, 'latin1').toString('utf8');
  switch (name.toLowerCase()) {
    case 'x-sendfile':
      return value;
    case 'x-accel-redirect':
      return fileOfInternalUri(value, policy.map);
    default:
      throw sendfileRefused(
        `${name} is not passed on: the web server would act on it without wsgikit's checks.`,
        `send X-Sendfile with the file's absolute path (a whole file).`,
      );
  }
}

/** An X-Accel-Redirect URI back to the file [sendfile_map] says it stands for. */
function fileOfInternalUri(uri: string, map: readonly SendfileMapping[]): string {
  let best: SendfileMapping | null = null;
  for (const m of map) if (uri.startsWith(m.to) && (best === null || m.to.length > best.to.length)) best = m;
  if (best === null || /[?#]/.test(uri)) {
    const prefixes = map.map((m) => m.to).join(', ') || 'none: the host has no [sendfile_map]';
    throw sendfileRefused(
      `X-Accel-Redirect: ${uri} is not a file under an internal prefix of the host's [sendfile_map] (${prefixes}), so wsgikit cannot check it.`,
      `send X-Sendfile with the file's absolute path instead.`,
    );
  }
  let rest: string;
  try {
    rest = decodeURIComponent(uri.slice(best.to.length));
  } catch {
    throw sendfileRefused(`X-Accel-Redirect: ${uri} holds a broken %-escape.`, `send X-Sendfile with the file's path.`);
  }
  return best.from + rest;
}

export interface CheckedFile {
  /** Every symlink resolved. */
  real: string;
  stat: Stats;
}

/** The checks of the header comment; a refusal says what to fix. */
export async function checkFile(file: string, policy: OffloadPolicy): Promise<CheckedFile> {
  const named = `X-Sendfile: ${file}`;
  if (!file.startsWith('/')) {
    throw sendfileRefused(
      `${named} is not an absolute path.`,
      `name the file by its absolute path, e.g. os.path.abspath(name).`,
    );
  }
  if (file.split('/').includes('..')) {
    throw sendfileRefused(
      `${named} has a ".." segment.`,
      `name the file by its real path, e.g. os.path.realpath(name).`,
    );
  }
  if (hasControlCharacter(file)) throw sendfileRefused(`${named} holds a control character.`);
  let real: string;
  try {
    real = await fsp.realpath(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw sendfileRefused(`${named}: no such file.`, `check the path, or create the file before naming it.`);
    }
    if (code === 'ELOOP') throw sendfileRefused(`${named} is a loop of symlinks.`, `name the file itself.`);
    throw sendfileRefused(
      `${named} cannot be reached (${code ?? String(error)}).`,
      `chmod a+x each folder on the way (the app's user needs search permission).`,
    );
  }
  if (findRoot(real, policy.roots) === null) {
    const through = real === resolve(file) ? '' : `, through a symlink, ${real},`;
    throw sendfileRefused(
      `${named} is${through} outside the folders this app may use (${policy.roots.join(', ') || 'none'}).`,
      `send only files under them, and replace symlinks that lead out with the files themselves.`,
    );
  }
  const stat = await fsp.stat(real);
  if (!stat.isFile()) {
    throw sendfileRefused(`${named} is not a regular file.`, `name a file, not a folder or a device.`);
  }
  // The folders on the way from /, not only those below the root: the owner must reach the file.
  let folder = '/';
  for (const part of dirname(real).split('/').filter(Boolean)) {
    const st = await fsp.stat(folder);
    if (!modeAllows(policy.uid, policy.groups, st, 'x')) throw unreadable(named, folder, policy.uid, 'search');
    folder = join(folder, part);
  }
  if (!modeAllows(policy.uid, policy.groups, await fsp.stat(folder), 'x')) {
    throw unreadable(named, folder, policy.uid, 'search');
  }
  if (!modeAllows(policy.uid, policy.groups, stat, 'r')) throw unreadable(named, real, policy.uid, 'read');
  return { real, stat };
}

function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function unreadable(named: string, p: string, uid: number, what: 'read' | 'search'): WsgikitError {
  const bit = what === 'read' ? 'r' : 'x';
  return sendfileRefused(
    `${named}: the app's user (uid ${uid}) may not ${what} ${p}, so it may not have the web server send it.`,
    `chmod u+${bit} ${shellQuote(p)} if the file is the app's own (or o+${bit} for a shared one).`,
  );
}

/** The header the web server acts on, for a checked file; refused when the map does not cover it. */
export function serverHeader(real: string, policy: OffloadPolicy): [string, string] {
  const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  if (policy.mode === 'x-sendfile') {
    // lighttpd %-decodes the value and mod_xsendfile does not: a "%" would name another file on one.
    if (real.includes('%')) {
      throw sendfileRefused(
        `X-Sendfile: ${real} has a "%" in its name, which Apache (mod_xsendfile) and lighttpd read differently.`,
        `rename the file without "%".`,
      );
    }
    return ['X-Sendfile', bytes(real)];
  }
  const mapping = sendfileMappingFor(real, policy.map);
  if (mapping === undefined) {
    throw sendfileRefused(
      `X-Sendfile: ${real} is under no filesystem prefix of the host's [sendfile_map] (${policy.map.map((m) => m.from).join(', ')}), so nginx has no internal location for it.`,
      `move the file under one, or ask the host to map its folder.`,
    );
  }
  const rest = real.slice(mapping.from.length).split('/').map(encodeURIComponent).join('/');
  return ['X-Accel-Redirect', mapping.to + rest];
}

/** The [sendfile_map] entry that serves `real` (longest prefix first, as the map is kept), or undefined. */
export function sendfileMappingFor(real: string, map: readonly SendfileMapping[]): SendfileMapping | undefined {
  return map.find((m) => real.startsWith(m.from));
}

/** The app's headers less those the answer replaces (the offload headers, Content-Length). */
function keptHeaders(headers: ResponseHeaders): Array<readonly [string, string]> {
  return headers.filter(([name]) => {
    const lower = name.toLowerCase();
    return !OFFLOAD_HEADERS.has(lower) && lower !== 'content-length';
  });
}

export interface OffloadRequest {
  status: string;
  headers: ResponseHeaders;
  method: string | undefined;
  /** "GET /path", for the log line. */
  label: string;
}

/**
 * Answers with the file the headers name, through `sink`: a 403 (logged by `report`, which returns
 * the incident id) when it may not be sent. The app's own body is not part of the answer.
 */
export async function answerWithFile(
  request: OffloadRequest,
  policy: OffloadPolicy,
  sink: ResponseSink,
  report: (summary: string) => string,
): Promise<void> {
  let checked: CheckedFile;
  let header: [string, string] | null = null;
  try {
    checked = await checkFile(requestedFile(request.headers, policy), policy);
    if (policy.mode !== 'none') header = serverHeader(checked.real, policy);
  } catch (error) {
    // Whatever failed (a folder that vanished mid-check, say), the answer is a refusal, never the file.
    const refusal =
      error instanceof WsgikitError
        ? error
        : sendfileRefused(`The file the response names could not be checked: ${(error as Error).message}.`);
    refusal.incident = report(`${request.label}: file not sent: ${refusal.message}`);
    sink.fail(refusal);
    return;
  }
  if (header !== null) {
    sink.start(request.status, [...keptHeaders(request.headers), header]);
    sink.end();
    return;
  }
  await streamFile(request, checked, sink, report);
}

/** sendfile = "none": wsgikit sends the file itself, with backpressure. */
async function streamFile(
  request: OffloadRequest,
  checked: CheckedFile,
  sink: ResponseSink,
  report: (summary: string) => string,
): Promise<void> {
  let handle: fsp.FileHandle;
  try {
    // The inode checked must be the one opened: a path swapped in between is refused.
    handle = await fsp.open(checked.real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    const refusal = sendfileRefused(`X-Sendfile: ${checked.real} could not be opened (${(error as Error).message}).`);
    refusal.incident = report(`${request.label}: file not sent: ${refusal.message}`);
    sink.fail(refusal);
    return;
  }
  const st = await handle.stat().catch(() => null);
  if (st === null || st.ino !== checked.stat.ino || st.dev !== checked.stat.dev) {
    await handle.close();
    const refusal = sendfileRefused(`X-Sendfile: ${checked.real} was replaced while it was being checked.`);
    refusal.incident = report(`${request.label}: file not sent: ${refusal.message}`);
    sink.fail(refusal);
    return;
  }
  const size = st.size;
  sink.start(request.status, [...keptHeaders(request.headers), ['Content-Length', String(size)]]);
  if (request.method === 'HEAD' || size === 0) {
    await handle.close();
    sink.end();
    return;
  }
  // A file that grows while it is sent is cut at the length declared; one that shrinks cuts the
  // answer off, so the client cannot take it for whole.
  const stream = handle.createReadStream({ start: 0, end: size - 1, highWaterMark: 64 * 1024 });
  let sent = 0;
  sink.onClose(() => stream.destroy());
  stream.on('data', (chunk: string | Buffer) => {
    sent += chunk.length;
    bytesRead(chunk.length);
    if (!sink.write(chunk as Buffer)) {
      stream.pause();
      sink.onDrain(() => stream.resume());
    }
  });
  stream.on('error', (error) => {
    report(`${request.label}: sending ${checked.real} failed after ${sent} bytes: ${error.message}`);
    sink.fail(sendfileRefused(`X-Sendfile: ${checked.real} could not be read to its end.`));
  });
  stream.on('end', () => {
    if (sent === size) sink.end();
    else {
      report(`${request.label}: ${checked.real} shrank while it was sent (${sent} of ${size} bytes)`);
      sink.fail(sendfileRefused(`X-Sendfile: ${checked.real} shrank while it was sent.`));
    }
  });
}
