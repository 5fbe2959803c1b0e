// The claim tokens of queued requests (PROTOCOL.md, "Queued requests"): a file without a name whose
// open file description the front end and one bridge share, and with it the file offset. A token is
// one byte written past the offset; whoever reads it first (the bridge, starting the request, or the
// front end, taking it back) owns the request. The kernel serialises reads that share an offset, so
// exactly one of them gets the byte, and neither has to wait for the other.
//
// Tokens are written BATCH at a time, ahead of the requests they will belong to: a write per queued
// request was a system call per request. The bytes past the offset are always the outstanding
// tokens, oldest first, then the spare ones; the bridge reads only on a Q, so it never reaches a
// spare one, and a take-back reads the spares back with the rest.

import { Buffer } from 'node:buffer';
import process from 'node:process';
import { closeSync, constants, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Linux O_TMPFILE (__O_TMPFILE | O_DIRECTORY): fs.constants does not carry it. */
const O_TMPFILE = 0o20200000;
/** Give the file's pages back once this many tokens have been used. */
const TRIM_EVERY = 64 * 1024;
/** Tokens written at once. */
const BATCH = 64;

const TOKENS = Buffer.alloc(BATCH, 1);

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
  /** Where the next batch goes: the end of the tokens written. */
  private next = 0;
  /** Tokens given to queued requests and not yet known to be read. */
  private _outstanding = 0;
  /** Tokens written and given to no request yet: the last ones before `next`. */
  private spare = 0;
  private trimmedAt = 0;
  private closed = false;
  /** Room for the spares and the tokens of a running and a queued request. */
  private scratch = Buffer.allocUnsafe(BATCH + 2);

  private constructor(fd: number) {
    this.fd = fd;
  }

  get outstanding(): number {
    return this._outstanding;
  }

  /** Give a token to a request about to be queued (written before its frames, so it is there first). */
  put(): void {
    if (this.spare === 0) {
      // A short write (a full disk) leaves fewer: count only the bytes that are there.
      const wrote = writeSync(this.fd, TOKENS, 0, BATCH, this.next);
      if (wrote === 0) throw new Error('the claim file took no token');
      this.next += wrote;
      this.spare = wrote;
    }
    this.spare--;
    this._outstanding++;
  }

  /** The oldest outstanding token is known to be the bridge's: it has answered that request. */
  claimed(): void {
    if (this._outstanding > 0 && --this._outstanding === 0) this.trim();
  }

  /**
   * Take back as many of the outstanding tokens as the bridge has not read, newest first: the bridge
   * reads tokens in order, so those it has not read are the last ones. Returns how many were taken.
   */
  takeBack(): number {
    if (this._outstanding === 0 || this.closed) return 0;
    const want = this._outstanding + this.spare;
    if (want > this.scratch.length) this.scratch = Buffer.allocUnsafe(want);
    const got = readSync(this.fd, this.scratch, 0, want, null);
    // The spares were read too: they are the last bytes, after every outstanding token.
    const taken = Math.max(0, got - this.spare);
    this.spare = 0;
    this._outstanding = 0; // what was not taken, the bridge has read
    this.trim();
    return taken;
  }

  /**
   * No token outstanding: free the pages behind the offset (the file stays sparse). The spare
   * tokens go too, and the next batch is written at the offset, where they began.
   */
  private trim(): void {
    if (this.next - this.trimmedAt < TRIM_EVERY) return;
    try {
      ftruncateSync(this.fd, 0);
    } catch {
      return; // keeps its pages: harmless
    }
    this.next -= this.spare;
    this.spare = 0;
    this.trimmedAt = this.next;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}
