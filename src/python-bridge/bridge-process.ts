// The TypeScript side of one bridge process (wsgi_bridge.py running one app): spawns it, speaks
// the frame protocol of PROTOCOL.md on fds 3 and 4, and turns what comes back into calls on a
// ResponseSink. Mechanical on purpose: timeouts, recycling and retries belong to src/pool/.

import { Buffer } from 'node:buffer';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { dirname } from 'node:path';
import process from 'node:process';
import { BRIDGE_SCRIPT } from '../install-paths.js';
import { chrootCommand, type AppChroot } from '../app/chroot.js';
import split2 from 'split2';
import { AppLoadError, WsgikitError, type LoadKind } from '../errors.js';
import type { AppRequest, ResponseSink } from '../exchange.js';
import { ClaimFile } from './claim-file.js';
import {
  FROM_BRIDGE,
  FrameParser,
  FrameType,
  MAX_PAYLOAD,
  abortFrame,
  decodeFields,
  decodeStart,
  encodeFrame,
  frameHeader,
  requestFrame,
} from './frames.js';
import { bytesRead } from '../read-buffers.js';
import { adoptForDirectReads, receiveReads } from '../direct-reads.js';

export { BRIDGE_SCRIPT };

export interface BridgeOptions {
  /** Absolute path, used as is (never realpath: a venv's bin/python must stay a venv). */
  python: string;
  /** Absolute path of the .wsgi. */
  appFile: string;
  mode: 'persistent' | 'oneshot';
  /** The app's os.environ. */
  env: Record<string, string>;
  /** Default: dirname(appFile). */
  cwd?: string;
  cpuLimitSeconds?: number;
  addressSpaceLimitMb?: number;
  /**
   * The web server sends files: wsgi.file_wrapper over a whole regular file becomes an X-Sendfile
   * header (checked by the pool like the app's own) instead of the file's bytes.
   */
  offloadFiles?: boolean;
  /** Every line the app or the bridge writes to fd 1/2, newline stripped. */
  onOutput(stream: 'stdout' | 'stderr', line: string): void;
  /**
   * Let the front end queue a request behind the running one (`queue`), with a claim file on fd 5
   * to take it back. Persistent mode only.
   */
  queueing?: boolean;
  /**
   * Run as this user and group (real and effective ids, supplementary groups dropped); only a
   * root front end may ask. wsgi-check uses it to import an app exactly as its owner would.
   */
  uid?: number;
  gid?: number;
  /**
   * Start chrooted in this folder, as the current user (src/app/chroot.ts): `python` is then a
   * path inside it, and the app file, bridge and working folder are the chroot's own.
   */
  chroot?: AppChroot;
}

export interface BridgeInfo {
  pid: number;
  version: string;
  implementation: string;
  executable: string;
  importMs: number;
}

export type RunOutcome =
  /** `takenBack`: a queued request that the bridge never started, back in the caller's hands. */
  | { ok: true; exitReason: string | null; takenBack?: true }
  | { ok: false; error: WsgikitError; started: boolean; exitReason: string | null };

/**
 * Told once how a request ended. When a frame ends it, the call comes at once, while the frames
 * are read, so that the next request can be written in the same turn; it must not throw (that
 * would be taken for a broken channel). Any other end (refused at the start, taken back, the
 * process failing) comes on a later tick, never inside a call the caller made.
 */
export type RunDone = (outcome: RunOutcome) => void;

const TAKEN_BACK: RunOutcome = Object.freeze({ ok: true, exitReason: null, takenBack: true });

/** How many stderr lines are kept for the detail of a crash or a failed start. */
const TAIL_LINES = 20;
/** After the process exits, how long to wait for its pipes to drain before settling. */
const EXIT_GRACE_MS = 500;
/** Longest log line kept whole; longer ones are dropped (split2 skipOverflow). */
const MAX_LINE = 1024 * 1024;

const LOAD_KINDS: ReadonlySet<string> = new Set(['file', 'syntax', 'import', 'no-application', 'not-callable']);

function noop(): void {}

/**
 * A request's failed end, on a later tick: never inside the caller's own run(), queue() or
 * takeBack(), so that the pool's state changes never nest.
 */
function failLater(done: RunDone, error: WsgikitError, started: boolean): void {
  process.nextTick(done, { ok: false, error, started, exitReason: null } satisfies RunOutcome);
}

/** A request not taken. */
function refused(done: RunDone, error: WsgikitError): void {
  failLater(done, error, false);
}

/** The state of the request in progress. */
class Run {
  started = false;
  /** E or A was written: nothing more of the body goes to fd 3. */
  bodyDone = false;
  body: Readable | null = null;
  /** Why we sent A: the client left ('client') or the body broke off ('body'). */
  aborted: 'client' | 'body' | null = null;
  bodyError: string | null = null;
  error: WsgikitError | null = null;
  waitingForBridgeDrain = false;
  /** Bytes of a declared CONTENT_LENGTH still to send, or -1: the body ends where its stream does. */
  left = -1;
  /** Sent as Q and its token not known to be read by the bridge: it may still be taken back. */
  unclaimed = false;
  constructor(
    readonly sink: ResponseSink,
    readonly done: RunDone,
    /** Its number among the R and Q frames sent to this process (A frames name it). */
    readonly seq: number,
  ) {}
}

export class BridgeProcess {
  static start(options: BridgeOptions): BridgeProcess {
    return new BridgeProcess(options);
  }

  readonly pid: number | undefined;
  readonly ready: Promise<BridgeInfo>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private readonly options: BridgeOptions;
  private readonly child: ChildProcess;
  private readonly toBridge: Writable;
  private readonly fromBridge: Readable;
  private readonly parser = new FrameParser(FROM_BRIDGE);
  private readonly stderrTail: string[] = [];
  private resolveReady!: (info: BridgeInfo) => void;
  private rejectReady!: (error: WsgikitError) => void;
  private resolveExited!: (status: { code: number | null; signal: NodeJS.Signals | null }) => void;
  private state: 'starting' | 'ready' | 'failed' | 'exited' = 'starting';
  private failure: WsgikitError | null = null;
  private current: Run | null = null;
  /** A request written as Q behind `current`. */
  private queued: Run | null = null;
  private readonly claims: ClaimFile | null;
  /** K frames still to come: no new Q until the bridge is past the ones taken back. */
  private skips = 0;
  private sent = 0;
  private stopRequested = false;
  private fromBridgePaused = false;
  private channelBroken = false;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private openStreams = 3; // fd 4, stdout, stderr
  private exitTimer: NodeJS.Timeout | null = null;

  private constructor(options: BridgeOptions) {
    this.options = options;
    this.ready = new Promise<BridgeInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(noop); // a caller that never awaits `ready` must not crash the process
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));

    const jail = options.chroot;
    const args = [jail?.bridge ?? BRIDGE_SCRIPT, '--app', jail?.appFile ?? options.appFile, '--mode', options.mode];
    if (options.cpuLimitSeconds !== undefined) args.push('--cpu-limit', String(Math.ceil(options.cpuLimitSeconds)));
    if (options.addressSpaceLimitMb !== undefined) {
      args.push('--as-limit-mb', String(Math.ceil(options.addressSpaceLimitMb)));
    }
    if (options.offloadFiles) args.push('--offload-files', '1');
    this.claims = options.queueing && options.mode === 'persistent' ? ClaimFile.open() : null;
    if (this.claims !== null) args.push('--claim-fd', '5');
    // unshare(1) enters the chroot and execs Python in the same process: the pid stays the worker's.
    const { command, args: argv } =
      jail === undefined ? { command: options.python, args } : chrootCommand(jail, [options.python, ...args]);
    this.child = spawn(command, argv, {
      cwd: options.cwd ?? dirname(options.appFile),
      env: options.env,
      stdio:
        this.claims === null
          ? ['ignore', 'pipe', 'pipe', 'pipe', 'pipe']
          : ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', this.claims.fd],
      detached: false,
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    this.pid = this.child.pid;
    this.toBridge = this.child.stdio[3] as Writable;
    this.fromBridge = adoptForDirectReads(this.child.stdio[4]) ?? (this.child.stdio[4] as Readable);

    // Bound once: the hot path allocates no closures of its own.
    this.onFrame = this.onFrame.bind(this);
    this.onBodyData = this.onBodyData.bind(this);
    this.onBodyEnd = this.onBodyEnd.bind(this);
    this.onBodyError = this.onBodyError.bind(this);
    this.onBodyAborted = this.onBodyAborted.bind(this);
    this.onBodyClose = this.onBodyClose.bind(this);
    this.onToBridgeDrain = this.onToBridgeDrain.bind(this);
    this.resumeFromBridge = this.resumeFromBridge.bind(this);

    this.toBridge.on('error', noop); // EPIPE once the process is gone: its exit tells the story
    this.fromBridge.on('error', noop);
    const fromBridge = (chunk: Buffer): void => {
      bytesRead(chunk.length);
      // After a protocol error the channel is only drained, so the process is not stuck on a full pipe.
      if (!this.channelBroken) this.onData(chunk);
    };
    if (!receiveReads(this.fromBridge, fromBridge)) this.fromBridge.on('data', fromBridge);
    this.fromBridge.on('close', () => this.streamClosed());
    this.lines(this.child.stdout!, 'stdout');
    this.lines(this.child.stderr!, 'stderr');
    this.child.on('error', (error: NodeJS.ErrnoException) => this.onSpawnError(error));
    this.child.on('exit', (code, signal) => this.onExit(code, signal));
  }

  get busy(): boolean {
    return this.current !== null;
  }

  /** A request is queued behind the running one. */
  get hasQueued(): boolean {
    return this.queued !== null;
  }

  /**
   * Whether `queue(request)` would be taken now: the running request's body is all sent, nothing
   * is queued yet, and the request has no body to stream (it goes out in one write).
   */
  canQueue(request: AppRequest): boolean {
    const current = this.current;
    return (
      this.claims !== null &&
      current !== null &&
      current.bodyDone &&
      this.queued === null &&
      this.skips === 0 &&
      this.state === 'ready' &&
      !this.stopRequested &&
      this.exitStatus === null &&
      (request.body === null || request.contentLength === 0)
    );
  }

  run(request: AppRequest, sink: ResponseSink, done: RunDone): void {
    if (this.current !== null) throw new Error('BridgeProcess.run: this process is already running a request');
    this.send(request, sink, false, done);
  }

  /**
   * Write a request behind the running one, so the bridge finds it when it finishes; `takeBack()`
   * undoes it while the bridge has not started it. Only when `canQueue(request)`.
   */
  queue(request: AppRequest, sink: ResponseSink, done: RunDone): void {
    if (!this.canQueue(request)) throw new Error('BridgeProcess.queue: cannot queue a request now');
    this.send(request, sink, true, done);
  }

  /**
   * Take back the requests written as Q that the bridge has not started (the queued one, and the
   * running one when it was queued and has not started either): each is done with `takenBack`.
   * Returns their sinks.
   */
  takeBack(): ResponseSink[] {
    return this.takeBackUnclaimed();
  }

  private send(request: AppRequest, sink: ResponseSink, queued: boolean, done: RunDone): void {
    if (this.failure !== null) return refused(done, this.failure);
    if (this.state === 'exited' || this.exitStatus !== null || this.stopRequested) {
      return refused(
        done,
        new WsgikitError('WSGIKIT_SHUTTING_DOWN', 'the app process is stopping and takes no more requests'),
      );
    }
    const run = new Run(sink, done, this.sent + 1);
    sink.onClose(() => this.onClientClose(run));
    if (queued) {
      let frame: Buffer;
      try {
        frame = requestFrame(request.environ, null, true, FrameType.Queued, request.environFields);
      } catch (error) {
        return refused(done, error as WsgikitError);
      }
      this.sent++;
      run.bodyDone = true;
      run.unclaimed = true;
      this.queued = run;
      this.claims!.put(); // before the Q: the bridge must find its token when it reads it
      this.toBridge.write(frame);
      return;
    }
    this.current = run;

    // The R frame, the body that is already here and, if that is all of it, the E: one write.
    const body = request.body;
    let head: Buffer | null = null;
    let complete = body === null || request.contentLength === 0 || body.readableEnded;
    if (!complete && body !== null && !body.destroyed) {
      const first: unknown = body.read();
      if (first !== null) {
        head = typeof first === 'string' ? Buffer.from(first, 'latin1') : (first as Buffer);
        // The app is given CONTENT_LENGTH bytes, never more, whatever the server sends after them.
        if (request.contentLength !== null && head.length >= request.contentLength) {
          complete = true;
          if (head.length > request.contentLength) head = head.subarray(0, request.contentLength);
        }
      }
    }
    if (!complete && request.contentLength !== null) run.left = request.contentLength - (head?.length ?? 0);
    let frame: Buffer;
    try {
      frame = requestFrame(request.environ, head, complete, FrameType.Request, request.environFields);
    } catch (error) {
      this.current = null;
      return refused(done, error as WsgikitError);
    }
    this.sent++;
    this.toBridge.write(frame);
    if (complete) {
      run.bodyDone = true;
    } else if (body!.destroyed) {
      this.abortBody(run, 'the request body was already closed');
    } else {
      run.body = body;
      body!.on('data', this.onBodyData);
      body!.on('end', this.onBodyEnd);
      body!.on('error', this.onBodyError);
      body!.on('aborted', this.onBodyAborted);
      body!.on('close', this.onBodyClose);
    }
  }

  stop(): void {
    this.stopRequested = true;
    // Let a body that is still being sent finish first: ending fd 3 now would cut it off.
    if (this.current === null || this.current.bodyDone) this.toBridge.end();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
  }

  dumpStacks(): void {
    this.kill('SIGUSR1');
  }

  // -- request body → fd 3 ----------------------------------------------------------------------

  private onBodyData(chunk: Buffer | string): void {
    const run = this.current;
    if (run === null || run.bodyDone) return;
    let data = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    if (data.length === 0) return;
    const left = run.left;
    if (left >= 0 && data.length >= left) {
      // The declared length is complete: what the server sends after it is not the app's.
      if (data.length > left) data = data.subarray(0, left);
      run.left = 0;
    } else if (left > 0) {
      run.left = left - data.length;
    }
    let ok = true;
    this.toBridge.cork();
    for (let start = 0; start < data.length; start += MAX_PAYLOAD) {
      const piece = data.length <= MAX_PAYLOAD ? data : data.subarray(start, start + MAX_PAYLOAD);
      this.toBridge.write(frameHeader(FrameType.Body, piece.length));
      ok = this.toBridge.write(piece);
    }
    this.toBridge.uncork();
    if (run.left === 0) {
      this.endBody(run, encodeFrame(FrameType.End));
      return;
    }
    if (!ok && !run.waitingForBridgeDrain) {
      run.waitingForBridgeDrain = true;
      run.body!.pause();
      this.toBridge.once('drain', this.onToBridgeDrain);
    }
  }

  private onToBridgeDrain(): void {
    const run = this.current;
    if (run === null || !run.waitingForBridgeDrain) return;
    run.waitingForBridgeDrain = false;
    if (!run.bodyDone) run.body!.resume();
  }

  private onBodyEnd(): void {
    const run = this.current;
    if (run === null || run.bodyDone) return;
    this.endBody(run, encodeFrame(FrameType.End));
  }

  private onBodyError(error: Error): void {
    const run = this.current;
    if (run !== null && !run.bodyDone) this.abortBody(run, `the request body failed: ${error.message}`);
  }

  private onBodyAborted(): void {
    const run = this.current;
    if (run !== null && !run.bodyDone) this.abortBody(run, 'the client went away while sending the body');
  }

  private onBodyClose(): void {
    const run = this.current;
    if (run !== null && !run.bodyDone) this.abortBody(run, 'the request body ended early');
  }

  private abortBody(run: Run, reason: string): void {
    run.aborted ??= 'body';
    run.bodyError = reason;
    this.endBody(run, abortFrame(run.seq, reason));
  }

  /** Write the body's last frame (E or A) and let go of the body stream. */
  private endBody(run: Run, last: Buffer): void {
    run.bodyDone = true;
    this.toBridge.write(last);
    this.detachBody(run);
    if (this.stopRequested) this.toBridge.end();
  }

  private detachBody(run: Run): void {
    const body = run.body;
    if (body === null) return;
    run.body = null;
    body.removeListener('data', this.onBodyData);
    body.removeListener('end', this.onBodyEnd);
    body.removeListener('error', this.onBodyError);
    body.removeListener('aborted', this.onBodyAborted);
    body.removeListener('close', this.onBodyClose);
    body.on('error', noop); // a late 'error' with no listener would throw
    if (run.waitingForBridgeDrain) {
      run.waitingForBridgeDrain = false;
      this.toBridge.removeListener('drain', this.onToBridgeDrain);
    }
  }

  private onClientClose(run: Run): void {
    if ((this.current !== run && this.queued !== run) || run.aborted !== null) return;
    // Not started yet: take it back rather than have the bridge start it only to abort it.
    if (run.unclaimed) {
      this.takeBackUnclaimed();
      if (this.current !== run && this.queued !== run) return; // taken back: it never starts
    }
    run.aborted = 'client';
    const abort = abortFrame(run.seq, 'client closed the connection');
    if (run.bodyDone) this.toBridge.write(abort);
    else this.endBody(run, abort);
    if (run === this.current) this.resumeFromBridge(); // the sink will not drain any more; read on to the Z
  }

  /**
   * Read back the tokens the bridge has not read (the newest of the unclaimed runs) and settle
   * those runs as taken back; the others are the bridge's from now on.
   */
  private takeBackUnclaimed(): ResponseSink[] {
    const runs: Run[] = [];
    if (this.current?.unclaimed) runs.push(this.current);
    if (this.queued?.unclaimed) runs.push(this.queued);
    if (runs.length === 0 || this.claims === null) return [];
    const taken = this.claims.takeBack();
    const back: ResponseSink[] = [];
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i]!;
      run.unclaimed = false;
      if (i < runs.length - taken) continue; // the bridge has read its token: it runs it
      this.skips++;
      // Tokens come back newest first, so a current run comes back only with the queued one.
      if (run === this.queued) this.queued = null;
      if (run === this.current) this.current = null;
      back.push(run.sink);
      process.nextTick(run.done, TAKEN_BACK);
    }
    return back;
  }

  // -- fd 4 → sink -------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    try {
      this.parser.parse(chunk, this.onFrame);
    } catch (error) {
      this.protocolError(error as Error);
    }
  }

  private onFrame(type: FrameType, payload: Buffer): void {
    const run = this.current;
    if (run !== null && run.unclaimed) {
      // The bridge answers a queued request: it read that request's token.
      run.unclaimed = false;
      this.claims!.claimed();
    }
    switch (type) {
      case FrameType.Start: {
        if (run === null) return this.unexpected('S');
        if (run.aborted !== null) return;
        const start = decodeStart(payload);
        run.started = true;
        run.sink.start(start.status, start.headers);
        return;
      }
      case FrameType.Body: {
        if (run === null) return this.unexpected('B');
        if (run.aborted !== null) return;
        if (!run.started) return this.unexpected('B before S');
        if (!run.sink.write(payload) && !this.fromBridgePaused) {
          this.fromBridgePaused = true;
          this.fromBridge.pause();
          run.sink.onDrain(this.resumeFromBridge);
        }
        return;
      }
      case FrameType.Done:
        if (run === null) return this.unexpected('Z');
        return this.finishRun(run, payload.length > 0 ? payload.toString('utf8') : null);
      case FrameType.AppError: {
        if (run === null) return this.unexpected('X');
        const [code, , summary, traceback] = decodeFields(payload, 'utf8');
        run.error = new WsgikitError(
          code === 'bad-response' ? 'WSGIKIT_BAD_RESPONSE' : 'WSGIKIT_APP_EXCEPTION',
          summary || 'the application failed',
          { ownerDetail: traceback ?? '' },
        );
        return;
      }
      case FrameType.Skipped:
        if (this.skips === 0) return this.unexpected('K');
        this.skips--;
        return;
      case FrameType.Ready:
        return this.onReady(payload);
      case FrameType.LoadFailure:
        return this.onLoadFailure(payload);
      default:
        return this.unexpected(String.fromCharCode(type));
    }
  }

  private resumeFromBridge(): void {
    if (!this.fromBridgePaused) return;
    this.fromBridgePaused = false;
    this.fromBridge.resume();
  }

  private finishRun(run: Run, exitReason: string | null): void {
    if (!run.bodyDone) {
      // The app answered without reading all of the body: end it so the next R is not taken
      // for more body (the bridge skips the rest up to this E).
      this.endBody(run, encodeFrame(FrameType.End));
    }
    let outcome: RunOutcome;
    if (run.error !== null && run.aborted === null) {
      outcome = { ok: false, error: run.error, started: run.started, exitReason };
    } else if (run.aborted === 'body') {
      const error = new WsgikitError('WSGIKIT_BAD_REQUEST', run.bodyError ?? 'the request body broke off');
      outcome = { ok: false, error, started: run.started, exitReason };
    } else {
      if (run.aborted === null) run.sink.end();
      outcome = { ok: true, exitReason };
    }
    if (this.settle(run)) run.done(outcome);
  }

  /** Let go of the running request; whether it was still the running one. */
  private settle(run: Run): boolean {
    if (this.current !== run) return false;
    this.current = this.queued;
    this.queued = null;
    this.detachBody(run);
    this.resumeFromBridge();
    return true;
  }

  // -- start, load failure, exit -------------------------------------------------------------------

  private onReady(payload: Buffer): void {
    if (this.state !== 'starting') return this.unexpected('Y');
    const fields = decodeFields(payload, 'utf8');
    const info: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) info[fields[i]!] = fields[i + 1]!;
    this.state = 'ready';
    this.resolveReady({
      pid: Number(info.pid),
      version: info.version ?? '',
      implementation: info.implementation ?? '',
      executable: info.executable ?? '',
      importMs: Number(info.import_ms),
    });
  }

  private onLoadFailure(payload: Buffer): void {
    if (this.state !== 'starting') return this.unexpected('F');
    const [kind = '', summary = '', traceback = ''] = decodeFields(payload, 'utf8');
    const loadKind = (LOAD_KINDS.has(kind) ? kind : 'import') as LoadKind;
    this.fail(new AppLoadError(loadKind, summary || 'the app could not be loaded', traceback));
  }

  /** The process can serve nothing: reject `ready` and the request waiting on it. */
  private fail(error: WsgikitError): void {
    if (this.failure === null) this.failure = error;
    if (this.state === 'starting') {
      this.state = 'failed';
      this.rejectReady(error);
    }
    // Requests the bridge never started go back to the caller, to run elsewhere.
    this.takeBackUnclaimed();
    for (let run = this.current; run !== null; run = this.current) {
      this.settle(run);
      failLater(run.done, run.error ?? error, run.started);
    }
  }

  private unexpected(what: string): void {
    this.protocolError(new WsgikitError('WSGIKIT_PROTOCOL', `unexpected ${what} frame from the bridge`));
  }

  private protocolError(error: Error): void {
    const wsgikitError =
      error instanceof WsgikitError
        ? error
        : new WsgikitError('WSGIKIT_PROTOCOL', `bridge channel failed: ${error.message}`, { cause: error });
    this.channelBroken = true;
    this.kill();
    this.fail(wsgikitError);
  }

  private onSpawnError(error: NodeJS.ErrnoException): void {
    if (this.child.pid !== undefined) return; // e.g. a failed kill(): the exit handler covers it
    const python = this.options.python;
    const cwd = this.options.cwd ?? dirname(this.options.appFile);
    let message: string;
    if (error.code === 'ENOENT' && !existsSync(cwd)) {
      message = `cannot start ${python}: its working folder ${cwd} does not exist`;
    } else if (error.code === 'ENOENT') {
      message = `Python interpreter ${python} does not exist; set the app's python to an existing interpreter (an absolute path such as /usr/bin/python3)`;
    } else if (error.code === 'EACCES') {
      message = `cannot run ${python}: permission denied; make it executable (chmod +x) or choose another interpreter`;
    } else {
      message = `cannot run ${python}: ${error.message}`;
    }
    this.fail(new WsgikitError('WSGIKIT_WORKER_START_FAILED', message, { cause: error }));
    this.state = 'exited';
    // No process and no exit event: nothing else closes our ends of its pipes, or the claim file.
    for (const stream of this.child.stdio) stream?.destroy();
    this.fromBridge.destroy(); // fd 4's socket is our own when it reads directly
    this.claims?.close();
    this.resolveExited({ code: null, signal: null });
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitStatus = { code, signal };
    // Frames and log lines may still be in the pipes: settle once they are read (or soon).
    if (this.openStreams === 0) this.settleExit();
    else this.exitTimer = setTimeout(() => this.settleExit(), EXIT_GRACE_MS);
  }

  private streamClosed(): void {
    this.openStreams--;
    if (this.openStreams === 0 && this.exitStatus !== null) this.settleExit();
  }

  private settleExit(): void {
    if (this.state === 'exited') return;
    if (this.exitTimer !== null) clearTimeout(this.exitTimer);
    const { code, signal } = this.exitStatus!;
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    const detail = this.stderrTail.join('\n');
    if (this.state === 'starting') {
      this.fail(
        new WsgikitError(
          'WSGIKIT_WORKER_START_FAILED',
          `the Python bridge (${this.options.python}${this.options.chroot ? ` in the chroot ${this.options.chroot.dir}` : ''}) ${how} before the app was loaded`,
          { ownerDetail: detail },
        ),
      );
    } else if (this.current !== null) {
      const pid = this.pid === undefined ? '' : ` (pid ${this.pid})`;
      this.fail(
        new WsgikitError('WSGIKIT_WORKER_CRASHED', `the app's Python process${pid} ${how} during the request`, {
          ownerDetail: detail,
        }),
      );
    }
    this.state = 'exited';
    this.claims?.close();
    this.resolveExited({ code, signal });
  }

  private lines(stream: Readable, name: 'stdout' | 'stderr'): void {
    const onOutput = this.options.onOutput;
    const tail = this.stderrTail;
    // skipOverflow (split2 ≥ 4.1, missing from its types): drop an endless line, do not fail.
    const splitterOptions: split2.Options & { skipOverflow: boolean } = { maxLength: MAX_LINE, skipOverflow: true };
    const splitter = split2(splitterOptions);
    stream.pipe(splitter);
    splitter.on('data', (line: string) => {
      if (name === 'stderr') {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
      }
      onOutput(name, line);
    });
    splitter.on('error', noop);
    splitter.on('close', () => this.streamClosed());
  }
}
