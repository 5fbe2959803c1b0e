// The claim tokens of queued requests (PROTOCOL.md, "Queued requests"): a file without a name whose
// open file description the front end and one bridge share, and with it the file offset. A token is
// one byte written past the offset; whoever reads it first (the bridge, starting the request, or the
// front end, taking it back) owns the request. The kernel serialises reads that share an offset, so
// exactly one of them gets the byte, and neither has to wait for the other.

import { closeSync, constants, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Linux O_TMPFILE (__O_TMPFILE | O_DIRECTORY): fs.constants does not carry it. */
const O_TMPFILE = 0o20200000;
/** Give the file's pages back once this many tokens have been used. */
const TRIM_EVERY = 64 * 1024;

const TOKEN = Buffer.from([1]);

export class ClaimFile {
  /** Open a claim file, or null where none can be made (the bridge then gets no queued requests). */
  static open(): ClaimFile | null {
    const dir = tmpdir();
    try {
      return new ClaimFile(openSync(dir, constants.O_RDWR | O_TMPFILE, 0o600));
    } catch {
      // A file system without O_TMPFILE: a private name, unlinked at once.
    }
    const path = join(dir, `wsgikit-claims-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o600);
      unlinkSync(path);
      return new ClaimFile(fd);
    } catch {
      return null;
    }
  }

  readonly fd: number;
  /** Where the next token goes; every token before it has been read by one side. */
  #next = 0;
  /** Tokens written and not yet known to be read. */
  #outstanding = 0;
  #trimmedAt = 0;
  #closed = false;
  readonly #scratch = Buffer.allocUnsafe(2);

  private constructor(fd: number) {
    this.fd = fd;
  }

  get outstanding(): number {
    return this.#outstanding;
  }

  /** Write the token of a request about to be queued (before its frames, so it is there first). */
  put(): void {
    writeSync(this.fd, TOKEN, 0, 1, this.#next++);
    this.#outstanding++;
  }

  /** The oldest outstanding token is known to be the bridge's: it has answered that request. */
  claimed(): void {
    if (this.#outstanding > 0 && --this.#outstanding === 0) this.#trim();
  }

  /**
   * Take back as many of the outstanding tokens as the bridge has not read, newest first: the bridge
   * reads tokens in order, so those it has not read are the last ones. Returns how many were taken.
   */
  takeBack(): number {
    const want = this.#outstanding;
    if (want === 0 || this.#closed) return 0;
    const got = readSync(this.fd, this.#scratch, 0, Math.min(want, this.#scratch.length), null);
    this.#outstanding = 0; // what was not taken, the bridge has read
    this.#trim();
    return got;
  }

  /** No token outstanding: free the pages behind the offset (the file stays sparse). */
  #trim(): void {
    if (this.#next - this.#trimmedAt < TRIM_EVERY) return;
    this.#trimmedAt = this.#next;
    try {
      ftruncateSync(this.fd, 0);
    } catch {
      // keeps its pages: harmless
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
