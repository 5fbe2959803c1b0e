// The load the benchmark puts on a target: wrk for throughput, timed sequential requests for
// per-request time, a burst of concurrent requests, and curl for large bodies. Loopback only,
// every run bounded in count or time.

import { execFile, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { cleanEnv, log } from './common.js';

export interface WrkRun {
  rps: number;
  requests: number;
  /** ms */
  p50: number;
  p99: number;
}

export function wrk(url: string, seconds: number, connections = 16): Promise<WrkRun> {
  return new Promise((resolve, reject) => {
    const threads = Math.min(2, connections);
    const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '--latency', url];
    const child = spawn('wrk', args, { env: cleanEnv() });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('close', () => {
      const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
      const ms = (re: RegExp) => {
        const m = re.exec(out);
        if (!m) return NaN;
        const v = Number(m[1]);
        return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
      };
      const run = {
        rps: num(/Requests\/sec:\s+([\d.]+)/),
        requests: num(/(\d+) requests in/),
        p50: ms(/50%\s+([\d.]+)(us|ms|s)/),
        p99: ms(/99%\s+([\d.]+)(us|ms|s)/),
      };
      // Socket errors alone are not fatal: a server that ends a keep-alive connection counts as a read error.
      if (!(run.requests > 0) || /Non-2xx/.test(out)) reject(new Error(`wrk ${url} failed:\n${out}`));
      else resolve(run);
    });
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One GET; resolves with its time in ms once the body is read. Rejects on a status other than 200. */
export function timedGet(url: string, timeoutMs = 60_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request(url, { agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('latin1').on('data', (d: string) => (body += d.length < 300 ? d : ''));
      res.once('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode}\n${body.slice(0, 300)}`));
        else resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

/**
 * Until the target answers (mod_fcgid and wsgi-cgi start their processes on the first request),
 * then a second of load so that every worker has started and loaded the app.
 */
export async function warmUp(url: string): Promise<void> {
  try {
    await timedGet(url, 60_000);
    await wrk(url, 1);
  } catch (error) {
    // The rounds will show it failing; a warm-up that fails is only logged.
    log(`warm-up of ${url} failed: ${(error as Error).message.slice(0, 2000)}`);
  }
}

/** `count` GETs one after another; their times in ms. */
export async function sequential(url: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push(await timedGet(url));
  return times;
}

export interface Transfer {
  seconds: number;
  status: number;
  downloaded: number;
  body: string;
}

export interface TransferOptions {
  /** A file to POST, with its Content-Length or chunked; none: a GET. */
  upload?: { file: string; chunked: boolean };
  /** The body to /dev/null (the count from curl's size_download) rather than through our pipe. */
  discard?: boolean;
  /** curl --max-time (60). */
  maxSeconds?: number;
}

/**
 * curl moving a large body: `upload` a file (with its Content-Length, or chunked) or download to
 * a pipe we count and drop, or to /dev/null. curl streams both ways, so the client holds no copy.
 */
export function curlTransfer(url: string, options: TransferOptions = {}): Promise<Transfer> {
  const { upload, discard = false, maxSeconds = 60 } = options;
  const args = ['-sS', '--noproxy', '*', '--max-time', String(maxSeconds), '-o', discard ? '/dev/null' : '-'];
  args.push('-w', '\n%{http_code} %{time_total} %{size_download}');
  if (upload) {
    args.push('-X', 'POST', '-H', 'Content-Type: application/octet-stream', '-H', 'Expect:');
    if (upload.chunked) args.push('-H', 'Transfer-Encoding: chunked');
    args.push('-T', upload.file);
  }
  args.push(url);
  return new Promise((resolve, reject) => {
    // A download's body goes to a pipe we count and drop, not to memory.
    const child = spawn('curl', args, { env: cleanEnv() });
    let tail = '';
    let downloaded = 0;
    child.stdout.on('data', (d: Buffer) => {
      downloaded += d.length;
      tail = (tail + d.toString('latin1')).slice(-400);
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const m = /\n(\d{3}) ([\d.]+) (\d+)$/.exec(tail);
      if (code !== 0 || !m) return reject(new Error(`curl ${url} failed (exit ${code}): ${err}${tail.slice(-200)}`));
      const trailer = m[0].length;
      const body = tail.slice(0, tail.length - trailer);
      resolve({
        seconds: Number(m[2]),
        status: Number(m[1]),
        downloaded: discard ? Number(m[3]) : downloaded - trailer,
        body: body.slice(-200),
      });
    });
  });
}

/** Whether `command --version` (or the test) runs. */
export function runs(command: string, args: string[]): Promise<boolean> {
  return new Promise((resolve) => execFile(command, args, { timeout: 20_000 }, (error) => resolve(!error)));
}
