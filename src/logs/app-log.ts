// The app's own log: what the app printed, and wsgikit's notes about it (incidents, reloads), as
// plain text lines the site owner can read. Writes are synchronous appends because a CGI process
// exits right after its response and must not lose a line still in a buffer, and because each
// entry is one write(2) on an O_APPEND descriptor, entries from many processes never mix mid-line.
// Once open, nothing here throws: a full disk or a deleted folder must not fail a request.

import { Buffer } from 'node:buffer';
import process from 'node:process';
import { closeSync, constants, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { WsgikitError } from '../errors.js';
import { newIncidentId } from './incident-id.js';
import { formatEntry, splitLines } from './log-line.js';
import { rotateIfCurrent } from './rotate.js';

export { newIncidentId } from './incident-id.js';
export { defaultLogFile, isUnder } from './log-file-path.js';

export interface AppLogOptions {
  /** Absolute path of the log file. */
  file: string;
  /**
   * Rotate before a write would take the file past this many bytes. Lines other processes append
   * while one of them is rotating still land in the old file, so it may end a little past this.
   */
  maxBytes: number;
  /** Rotated files kept: `file.1` (newest) … `file.keep`. 0 keeps none. */
  keep: number;
  /** Receives every line (without its newline) as well; wsgi-run mirrors the log to the terminal. */
  echo?: (line: string) => void;
  /** Told of every failure to write or rotate after `open`; the line goes to `echo` regardless. */
  onError?: (error: Error) => void;
}

/** How long to leave rotation alone after it failed, so a stuck rename is not retried per line. */
const ROTATE_RETRY_MS = 60_000;

/** Indent of the detail lines under an incident, so the incident line stands out when reading. */
const DETAIL_INDENT = '    ';

/** The server's error log: this process's stderr (a CGI program's, or a FastCGI service's). */
const SERVER_LOG_FD = 2;

export class AppLog {
  /** The log file; for a log kept in the server's error log, the file it will be once it can. */
  readonly file: string;
  /** Lines go to the server's error log (stderr), each led by `wsgikit <app>: `, not to `file`. */
  readonly inServerLog: boolean;
  private readonly linePrefix: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly echo: ((line: string) => void) | undefined;
  private readonly onError: ((error: Error) => void) | undefined;
  private fd: number | null;
  private _failures = 0;
  private closed = false;
  private rotateRetryAt = 0;

  private constructor(options: AppLogOptions, file: string, fd: number, serverLogApp: string | null = null) {
    this.file = file;
    this.inServerLog = serverLogApp !== null;
    this.linePrefix = serverLogApp === null ? '' : `wsgikit ${serverLogApp}: `;
    this.maxBytes = options.maxBytes;
    this.keep = options.keep;
    this.echo = options.echo;
    this.onError = options.onError;
    this.fd = fd;
  }

  /**
   * Creates the folder (0700) and the file (0600) as needed and opens it for appending. Throws
   * WSGIKIT_LOG_UNWRITABLE, with the command that fixes it, when that is not possible.
   */
  static open(options: AppLogOptions): AppLog {
    if (!(options.maxBytes > 0) || !Number.isInteger(options.keep) || options.keep < 0) {
      throw new WsgikitError(
        'WSGIKIT_USAGE',
        `App log ${options.file}: maxBytes must be above 0 and keep a whole number from 0 (got ${options.maxBytes}, ${options.keep}).`,
      );
    }
    const file = resolve(options.file);
    let fd: number;
    try {
      fd = openLogFile(file);
    } catch (error) {
      throw unwritable(file, error as NodeJS.ErrnoException);
    }
    return new AppLog(options, file, fd);
  }

  /**
   * A log kept in the server's error log, for an app whose log folder cannot be made yet
   * (src/app/user-space.ts): every line goes to stderr, led by `wsgikit APP: ` so that lines from
   * several apps can be told apart there. `options.file` is where it would be; nothing is rotated.
   * `fd`: stderr, unless a test says otherwise; it is never closed.
   */
  static toServerLog(options: AppLogOptions, app: string, fd: number = SERVER_LOG_FD): AppLog {
    return new AppLog(options, resolve(options.file), fd, app);
  }

  /** Failures to write or rotate since `open`; each was also passed to `onError`. */
  get failures(): number {
    return this._failures;
  }

  /**
   * One timestamped line per line of `text`: `2026-11-23T16:05:01.123Z [source] text`. `source`
   * names who said it: `stdout`, `stderr`, `wsgikit`, `pid 1234`.
   */
  write(source: string, text: string): void {
    this.append(source, splitLines(text));
  }

  /**
   * Logs a failure under a new incident id and returns the id for the error page:
   * `… [wsgikit] incident K7Q2-M9XD-4T: summary`, then each line of `detail` (a traceback) indented.
   */
  incident(summary: string, detail?: string): string {
    const id = newIncidentId();
    const [first = '', ...more] = splitLines(summary);
    const lines = [`incident ${id}: ${first}`, ...more.map((line) => DETAIL_INDENT + line)];
    if (detail !== undefined && detail !== '') {
      for (const line of splitLines(detail)) lines.push(DETAIL_INDENT + line);
    }
    this.append('wsgikit', lines);
    return id;
  }

  /** Closes the file. Later lines still reach `echo`, but no longer the file. */
  close(): void {
    this.closed = true;
    if (this.fd !== null && !this.inServerLog) closeQuietly(this.fd);
    this.fd = null;
  }

  /**
   * `text` as it is, as one entry (a newline added if it lacks one): for lines that carry their
   * own time, the CGI daemon's JSON lines (pinoOpsLog).
   */
  writeRaw(text: string): void {
    this.appendEntry(text.endsWith('\n') ? text : `${text}\n`);
  }

  private append(source: string, lines: readonly string[]): void {
    let entry = formatEntry(new Date(), source, lines);
    if (this.inServerLog) entry = `${this.linePrefix}${entry.slice(0, -1).split('\n').join(`\n${this.linePrefix}`)}\n`;
    this.appendEntry(entry);
  }

  private appendEntry(entry: string): void {
    if (this.echo !== undefined) {
      for (const line of entry.slice(0, -1).split('\n')) {
        try {
          this.echo(line);
        } catch {
          // A broken terminal must not cost the file its line.
        }
      }
    }
    if (this.closed) return;
    try {
      const data = Buffer.from(entry, 'utf8');
      writeAll(this.descriptorFor(data.length), data);
    } catch (error) {
      this.report(error);
    }
  }

  /** The descriptor to append `bytes` to, after reopening or rotating as needed. */
  private descriptorFor(bytes: number): number {
    if (this.inServerLog) return this.fd!;
    if (this.fd === null) {
      // An earlier reopen failed; the folder may be back.
      this.fd = openLogFile(this.file);
      return this.fd;
    }
    const stat = fstatSync(this.fd);
    if (stat.nlink === 0) {
      // Deleted under us (by the owner, or with its folder): lines written now would vanish.
      const old = this.fd;
      this.fd = null;
      closeQuietly(old);
      this.fd = openLogFile(this.file);
      return this.fd;
    }
    if (stat.size > 0 && stat.size + bytes > this.maxBytes && Date.now() >= this.rotateRetryAt) {
      try {
        // 'busy': another process is rotating; our file becomes `.1`, which is fine for this line.
        if (rotateIfCurrent(this.file, this.keep, stat.dev, stat.ino) !== 'busy') this.reopen();
      } catch (error) {
        // Keep appending to the file we have; rotation is retried later, not on every line.
        this.rotateRetryAt = Date.now() + ROTATE_RETRY_MS;
        this.report(error);
      }
    }
    return this.fd!;
  }

  /** Switches to whatever file the path names now; keeps the old descriptor if that fails. */
  private reopen(): void {
    const fd = openLogFile(this.file);
    if (this.fd !== null) closeQuietly(this.fd);
    this.fd = fd;
  }

  private report(error: unknown): void {
    this._failures++;
    if (this.onError === undefined) return;
    try {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // The reporter failing is no reason to fail the request either.
    }
  }
}

function openLogFile(file: string): number {
  // mode applies to every folder this creates; existing folders keep the owner's choice.
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
}

function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing useful to do about a failed close of a log file.
  }
}

function unwritable(file: string, error: NodeJS.ErrnoException): WsgikitError {
  const dir = dirname(file);
  const make = `mkdir -p ${shellQuote(dir)} && chmod 700 ${shellQuote(dir)}`;
  let why: string;
  let fix: string;
  switch (error.code) {
    case 'EACCES':
    case 'EPERM':
      why = `${currentUser()} may not create or write it`;
      fix = `create the folder as that user with: ${make} (or choose a log file in a folder that user owns)`;
      break;
    case 'ENOTDIR':
    case 'EEXIST':
      why = 'part of that path is a file, not a folder';
      fix = `move that file away, then: ${make} (or choose another log file)`;
      break;
    case 'EISDIR':
      why = 'that path is a folder';
      fix = 'give the path of a file inside it instead';
      break;
    case 'EROFS':
      why = 'that file system is read-only';
      fix = 'choose a log file in your home folder instead';
      break;
    case 'ENOSPC':
    case 'EDQUOT':
      why = 'the disk or your quota is full';
      fix = 'free some space, or ask the host for more';
      break;
    default:
      why = error.message;
      fix = `check the folder exists and is yours: ${make}`;
  }
  return new WsgikitError('WSGIKIT_LOG_UNWRITABLE', `Cannot write the app log ${file}: ${why}. To fix it, ${fix}.`, {
    cause: error,
  });
}

function currentUser(): string {
  try {
    return `user ${userInfo().username}`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function shellQuote(text: string): string {
  return /^[\w/.,:@%+=-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
