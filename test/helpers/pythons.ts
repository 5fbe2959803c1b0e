// The Python interpreters present on this machine, by absolute path only (never the `python3` on
// PATH: a pyenv shim is slow and ambiguous), and a small harness for driving a BridgeProcess in
// tests: a recording ResponseSink and a bridge starter that collects the app's log lines.
//
// BRIDGE_PYTHONS=3.11,pypy narrows the list (comma-separated substrings of the label).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { BridgeProcess, type BridgeOptions, type RunOutcome } from '../../src/python-bridge/bridge-process.js';
import type { WsgikitError } from '../../src/errors.js';
import type { AppRequest, Environ, ResponseSink } from '../../src/exchange.js';
import type { Readable } from 'node:stream';

export interface Python {
  /** e.g. "CPython 3.11.2 /usr/bin/python3" */
  label: string;
  path: string;
  implementation: string;
  major: number;
  minor: number;
}

const PYENV = '/root/.pyenv/versions';

function candidates(): string[] {
  const paths = ['/usr/bin/python3', '/usr/bin/pypy3'];
  if (existsSync(PYENV)) {
    for (const version of readdirSync(PYENV).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))) {
      if (/^3\.(6|7|8|9|1[0-3])\./.test(version)) paths.push(join(PYENV, version, 'bin/python3'));
      if (/^2\.7\./.test(version)) paths.push(join(PYENV, version, 'bin/python2'));
    }
  }
  return paths.filter((path) => existsSync(path));
}

function describePython(path: string): Python | null {
  try {
    const out = execFileSync(
      path,
      ['-c', 'import platform,sys; print(platform.python_implementation()); print("%d %d %d" % sys.version_info[:3])'],
      { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const [implementation = '', version = ''] = out.trim().split('\n');
    const [major, minor, micro] = version.split(' ').map(Number);
    return {
      label: `${implementation} ${major}.${minor}.${micro} ${path}`,
      path,
      implementation,
      major: major!,
      minor: minor!,
    };
  } catch {
    return null;
  }
}

function discover(): Python[] {
  const filter = process.env.BRIDGE_PYTHONS?.split(',').filter(Boolean);
  return candidates()
    .map(describePython)
    .filter((p): p is Python => p !== null)
    .filter((p) => !filter || filter.some((f) => p.label.toLowerCase().includes(f.toLowerCase())));
}

/** Every interpreter present, each with a label for describe.each. */
export const pythons: Python[] = discover();
/** Debian's /usr/bin/python3, if present (the one with python3-flask). */
export const systemPython: Python | undefined = pythons.find((p) => p.path === '/usr/bin/python3');

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

export const APPS = fileURLToPath(new URL('../fixtures/apps/', import.meta.url));

export interface SinkOptions {
  /** Keep the body bytes (default true); a large download only counts and hashes. */
  keepBody?: boolean;
  /** Return false from every Nth write, and drain on the next turn of the event loop. */
  backpressureEvery?: number;
  /** Act as a client that goes away once this many body bytes arrived. */
  closeAfterBytes?: number;
}

/** A ResponseSink that records everything the bridge forwards. */
export class TestSink implements ResponseSink {
  status: string | null = null;
  headers: Array<[string, string]> = [];
  bytes = 0;
  writes = 0;
  writesAfterClose = 0;
  ended = false;
  closed = false;
  failedWith: WsgikitError | null = null;
  private readonly parts: Buffer[] = [];
  private readonly hasher = createHash('sha256');
  private drainCallbacks: Array<() => void> = [];
  private closeCallbacks: Array<() => void> = [];

  constructor(private readonly options: SinkOptions = {}) {}

  start(status: string, headers: Array<[string, string]>): void {
    if (this.status !== null) throw new Error('start() called twice');
    this.status = status;
    this.headers = headers;
  }

  write(chunk: Buffer): boolean {
    if (this.status === null) throw new Error('write() before start()');
    if (this.closed) this.writesAfterClose++;
    this.writes++;
    this.bytes += chunk.length;
    this.hasher.update(chunk);
    if (this.options.keepBody !== false) this.parts.push(Buffer.from(chunk));
    if (this.options.closeAfterBytes !== undefined && this.bytes >= this.options.closeAfterBytes && !this.closed) {
      setImmediate(() => this.close());
    }
    const every = this.options.backpressureEvery;
    if (every !== undefined && this.writes % every === 0) {
      setImmediate(() => {
        const callbacks = this.drainCallbacks;
        this.drainCallbacks = [];
        for (const callback of callbacks) callback();
      });
      return false;
    }
    return true;
  }

  onDrain(callback: () => void): void {
    this.drainCallbacks.push(callback);
  }

  end(): void {
    this.ended = true;
  }

  fail(error: WsgikitError): void {
    this.failedWith = error;
  }

  onClose(callback: () => void): void {
    this.closeCallbacks.push(callback);
  }

  /** The client goes away. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const callback of this.closeCallbacks) callback();
  }

  get started(): boolean {
    return this.status !== null;
  }

  get body(): Buffer {
    return Buffer.concat(this.parts);
  }

  get text(): string {
    return this.body.toString('utf8');
  }

  get sha256(): string {
    return this.hasher.copy().digest('hex');
  }

  header(name: string): string | undefined {
    return this.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
  }
}

export interface TestBridge {
  bridge: BridgeProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first line (stdout or stderr) matching, waiting up to timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

const running = new Set<BridgeProcess>();

/** The environment startBridge gives a bridge unless told otherwise. */
export const BRIDGE_ENV: Readonly<Record<string, string>> = { PATH: '/usr/bin:/bin', LANG: 'C' };

export function startBridge(
  python: Python | string,
  app: string,
  options: Partial<Omit<BridgeOptions, 'python' | 'appFile' | 'onOutput'>> = {},
): TestBridge {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const bridge = BridgeProcess.start({
    python: typeof python === 'string' ? python : python.path,
    appFile: app.startsWith('/') ? app : join(APPS, app),
    mode: options.mode ?? 'persistent',
    env: options.env ?? BRIDGE_ENV,
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.cpuLimitSeconds !== undefined ? { cpuLimitSeconds: options.cpuLimitSeconds } : {}),
    ...(options.addressSpaceLimitMb !== undefined ? { addressSpaceLimitMb: options.addressSpaceLimitMb } : {}),
    ...(options.offloadFiles !== undefined ? { offloadFiles: options.offloadFiles } : {}),
    ...(options.queueing !== undefined ? { queueing: options.queueing } : {}),
    onOutput(stream, line) {
      (stream === 'stdout' ? stdout : stderr).push(line);
      for (const waiter of waiters) waiter();
    },
  });
  running.add(bridge);
  // Started inside a test: killed when it ends. Started in a beforeAll: the suite's afterAll.
  try {
    onTestFinished(async () => {
      bridge.kill();
      await bridge.exited;
    });
  } catch {
    // not inside a test
  }
  void bridge.exited.then(() => running.delete(bridge));
  function waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = [...stdout, ...stderr].find((line) => pattern.test(line));
        if (found === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `no output line matched ${pattern}; stdout=${JSON.stringify(stdout)} stderr=${JSON.stringify(stderr)}`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  }
  return { bridge, stdout, stderr, waitForLine };
}

/** Kill every bridge still running (each by its own pid): for a test file's afterAll. */
export async function stopAllBridges(): Promise<void> {
  const all = [...running];
  for (const bridge of all) bridge.kill();
  await Promise.all(all.map((bridge) => bridge.exited));
}

export function environ(overrides: Environ = {}): Environ {
  return {
    REQUEST_METHOD: 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: '/',
    QUERY_STRING: '',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    ...overrides,
  };
}

export async function request(
  bridge: BridgeProcess,
  env: Environ = {},
  body: Readable | null = null,
  sinkOptions: SinkOptions = {},
  contentLength: number | null = null,
): Promise<{ outcome: RunOutcome; sink: TestSink }> {
  const sink = new TestSink(sinkOptions);
  const req: AppRequest = { environ: environ(env), body, contentLength, owner: true };
  const outcome = await outcomeOf(bridge, 'run', req, sink);
  return { outcome, sink };
}

/** bridge.run or bridge.queue, with the outcome as a promise. */
export function outcomeOf(
  bridge: BridgeProcess,
  how: 'run' | 'queue',
  req: AppRequest,
  sink: ResponseSink,
): Promise<RunOutcome> {
  return new Promise((done) => (how === 'run' ? bridge.run(req, sink, done) : bridge.queue(req, sink, done)));
}

/** Peak and current resident memory of a process, in MiB, from /proc/PID/status. */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}
