// Starts the built wsgi-run (dist/) on 127.0.0.1 with a free port, for tests that drive it over
// real HTTP, and makes throwaway app folders with their settings and logs inside.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const WSGI_RUN = fileURLToPath(new URL('../../dist/cli/wsgi-run.js', import.meta.url));

export interface AppFolder {
  dir: string;
  app: string;
  logDir: string;
  /** Everything in the app's log so far. */
  log(): string;
}

/** A folder holding `app.wsgi` (and its settings), with the log kept inside the folder too. */
export function appFolder(source: string, settings: Record<string, string | number | boolean> = {}): AppFolder {
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-test-'));
  chmodSync(dir, 0o755);
  const app = join(dir, 'app.wsgi');
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { mode: 0o700 });
  writeFileSync(app, source, { mode: 0o644 });
  const lines = [`log_dir = ${JSON.stringify(logDir)}`];
  for (const [key, value] of Object.entries(settings)) lines.push(`${key} = ${JSON.stringify(value)}`);
  writeFileSync(app + '.toml', lines.join('\n') + '\n', { mode: 0o644 });
  return {
    dir,
    app,
    logDir,
    log() {
      const file = findLog(logDir);
      return file ? readFileSync(file, 'utf8') : '';
    },
  };
}

function findLog(logDir: string): string | null {
  // One app per folder: the only .log in it.
  const name = existsSync(logDir) ? readdirSync(logDir).find((f) => f.endsWith('.log')) : undefined;
  return name ? join(logDir, name) : null;
}

export interface RunningServer {
  url: string;
  pid: number;
  /** What wsgi-run printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

export async function startWsgiRun(app: string, args: string[] = []): Promise<RunningServer> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const child: ChildProcess = spawn(process.execPath, [WSGI_RUN, app, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wsgi-run did not start:\n${out}`)), 15_000);
    const look = () => {
      const m = /URL:\s+(http:\/\/\S+?)\/?$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`wsgi-run exited:\n${out}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Polls until `check` returns a value, for things that happen after a response (log lines). */
export async function eventually<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request body of `megabytes` MiB streamed from one reused block, with its size and SHA-256. */
export function streamedBody(megabytes: number): { stream: Readable; size: number; sha256: string } {
  const block = Buffer.alloc(1024 * 1024, 7);
  const digest = createHash('sha256');
  for (let i = 0; i < megabytes; i++) digest.update(block);
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < megabytes; i++) yield block;
    })(),
  );
  return { stream, size: megabytes * block.length, sha256: digest.digest('hex') };
}
