// The soak: mixed traffic for a bounded time through nginx → wsgi-fcgi and Apache CGI (daemon
// mode) → wsgi-cgi, from a few concurrent clients each. Every body is checked: uploads by the
// SHA-256 the app echoes, streamed downloads by hashing what arrives against what the app must
// have sent. 404s and app exceptions are part of the mix and must come back as exactly that.
// RSS of wsgi-fcgi and of the CGI daemon is sampled every few seconds.
//
// Used by test/reliability/soak.test.ts (bounded, in the suite) and scripts/soak.mjs (--minutes N).

import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs } from '../helpers/servers.js';
import { rssKb } from './lib.js';
import { startApacheStack, startNginxStack } from './stack.js';
import { mulberry32 } from '../helpers/mulberry32.js';

export const SOAK_APP = `
import hashlib, os, sys

def block(seed, i):
    return bytes(bytearray([(seed * 31 + i) % 256])) * 16384

def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    query = environ['QUERY_STRING']
    if path == '/boom':
        raise RuntimeError('soak exception ' + query)
    if path == '/upload':
        digest, total, stream = hashlib.sha256(), 0, environ['wsgi.input']
        while True:
            data = stream.read(65536)
            if not data:
                break
            total += len(data)
            digest.update(data)
        out = ('%d %s' % (total, digest.hexdigest())).encode()
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(out)))])
        return [out]
    if path == '/stream':
        seed, count = [int(x) for x in query.split('-')]
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return (block(seed, i) for i in range(count))
    out = ('small %s %d' % (query, os.getpid())).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(out)))])
    return [out]
`;

export interface SoakOptions {
  seconds: number;
  clientsPerStack: number;
  /** RSS sample period. */
  sampleMs: number;
  /** Samples taken before this are warm-up and not judged. */
  warmupMs: number;
  log?: (line: string) => void;
  seed?: number;
}

export interface StackStats {
  requests: number;
  bytesUp: number;
  bytesDown: number;
  /** Expected errors the mix asked for (404, 500). */
  faults: number;
  /** Anything else: a wrong status, a wrong or cut body, a network error. */
  failures: string[];
  /** RSS samples (KiB) after warm-up, per process. */
  rss: Record<string, number[]>;
}

export interface SoakResult {
  nginx: StackStats | null;
  apache: StackStats | null;
}

interface Reply {
  status: number;
  body: Buffer;
}

function send(agent: Agent, port: number, method: string, path: string, body: Buffer | null): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: body ? { 'content-length': String(body.length), 'content-type': 'application/octet-stream' } : {},
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.end(body ?? undefined);
  });
}

function streamDigest(seed: number, count: number): string {
  const digest = createHash('sha256');
  for (let i = 0; i < count; i++) digest.update(Buffer.alloc(16384, (seed * 31 + i) % 256));
  return digest.digest('hex');
}

/** One client's loop of mixed requests against `port` until `deadline`. */
async function client(port: number, prefix: string, deadline: number, rand: () => number, stats: StackStats) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const int = (n: number) => Math.floor(rand() * n);
  try {
    for (let i = 0; i < 1_000_000 && Date.now() < deadline; i++) {
      const kind = rand();
      const tag = `${int(1e9)}`;
      try {
        if (kind < 0.4) {
          const r = await send(agent, port, 'GET', `${prefix}/small?${tag}`, null);
          stats.bytesDown += r.body.length;
          if (r.status !== 200 || !r.body.toString().startsWith(`small ${tag} `)) throw new Error(`small ${r.status}`);
        } else if (kind < 0.65) {
          const size = int(2 * 1024 * 1024);
          const body = randomBytes(size);
          const want = `${size} ${createHash('sha256').update(body).digest('hex')}`;
          const r = await send(agent, port, 'POST', `${prefix}/upload`, body);
          stats.bytesUp += size;
          stats.bytesDown += r.body.length;
          if (r.status !== 200 || r.body.toString() !== want) throw new Error(`upload ${size}: ${r.status}`);
        } else if (kind < 0.85) {
          const seed = int(1000);
          const count = 1 + int(128);
          const r = await send(agent, port, 'GET', `${prefix}/stream?${seed}-${count}`, null);
          stats.bytesDown += r.body.length;
          if (r.status !== 200 || r.body.length !== count * 16384)
            throw new Error(`stream ${r.status} ${r.body.length}`);
          if (createHash('sha256').update(r.body).digest('hex') !== streamDigest(seed, count)) {
            throw new Error(`stream ${seed}-${count}: corrupted body`);
          }
        } else if (kind < 0.93) {
          const r = await send(agent, port, 'GET', `/missing-${tag}.wsgi/x`, null);
          stats.faults++;
          if (r.status !== 404) throw new Error(`missing: ${r.status}`);
        } else {
          const r = await send(agent, port, 'GET', `${prefix}/boom?${tag}`, null);
          stats.faults++;
          if (r.status !== 500 || r.body.toString().includes('soak exception')) throw new Error(`boom: ${r.status}`);
        }
      } catch (error) {
        stats.failures.push((error as Error).message);
      }
      stats.requests++;
    }
  } finally {
    agent.destroy();
  }
}

function emptyStats(): StackStats {
  return { requests: 0, bytesUp: 0, bytesDown: 0, faults: 0, failures: [], rss: {} };
}

function sample(stats: StackStats, name: string, pid: number): void {
  const kb = rssKb(pid);
  if (kb > 0) (stats.rss[name] ??= []).push(kb);
}

export async function runSoak(options: SoakOptions, stacks: { nginx: boolean; apache: boolean }): Promise<SoakResult> {
  const say = options.log ?? (() => {});
  const rand = mulberry32(options.seed ?? 0x50a6);
  const nginx = stacks.nginx ? await startNginxStack('rel-soak') : null;
  const apache = stacks.apache ? await startApacheStack('rel-soak', true) : null;
  const result: SoakResult = { nginx: nginx ? emptyStats() : null, apache: apache ? emptyStats() : null };
  try {
    nginx?.add('soak', SOAK_APP, 'processes = 3\nmax_body_mb = 10\n');
    const apacheApp = apache?.add('soak', SOAK_APP, 'processes = 3\nmax_body_mb = 10\nidle_timeout = 600\n');
    // Warm both: the first CGI request starts the daemon.
    if (apache) await send(new Agent(), apache.apache.port, 'GET', '/soak.wsgi/small?warm', null);
    const started = Date.now();
    const deadline = started + options.seconds * 1000;
    const sampler = setInterval(() => {
      if (Date.now() - started < options.warmupMs) return;
      if (nginx && result.nginx) sample(result.nginx, 'wsgi-fcgi', nginx.fcgi.pid);
      if (apache && result.apache) for (const pid of apache.daemons()) sample(result.apache, `daemon ${pid}`, pid);
    }, options.sampleMs);
    const clients: Array<Promise<void>> = [];
    for (let c = 0; c < options.clientsPerStack; c++) {
      if (nginx)
        clients.push(
          client(nginx.nginx.port, '/soak.wsgi', deadline, mulberry32(Math.floor(rand() * 2 ** 31)), result.nginx!),
        );
      if (apache)
        clients.push(
          client(apache.apache.port, '/soak.wsgi', deadline, mulberry32(Math.floor(rand() * 2 ** 31)), result.apache!),
        );
    }
    const progress = setInterval(() => {
      say(
        `soak: ${Math.round((Date.now() - started) / 1000)} s, nginx ${result.nginx?.requests ?? 0} requests, ` +
          `apache ${result.apache?.requests ?? 0} requests`,
      );
    }, 15_000);
    await Promise.all(clients);
    clearInterval(sampler);
    clearInterval(progress);
    if (apache && apacheApp) {
      const logs = readdirSync(apacheApp.logDir)
        .map((f) => readFileSync(join(apacheApp.logDir, f), 'utf8'))
        .join('');
      if (logs.includes('daemon mode unavailable'))
        result.apache!.failures.push('the CGI requests did not use the daemon');
    }
  } finally {
    await nginx?.stop();
    await apache?.stop();
    removeTempDirs();
  }
  return result;
}

export function describeSoak(result: SoakResult): string {
  const lines: string[] = [];
  for (const [name, s] of Object.entries(result) as Array<[string, StackStats | null]>) {
    if (!s) continue;
    const rss = Object.entries(s.rss)
      .map(([p, v]) => `${p} ${Math.round(Math.min(...v) / 1024)}–${Math.round(Math.max(...v) / 1024)} MB`)
      .join(', ');
    lines.push(
      `${name}: ${s.requests} requests, ${(s.bytesUp / 1048576).toFixed(0)} MB up, ` +
        `${(s.bytesDown / 1048576).toFixed(0)} MB down, ${s.faults} faults (404/500 asked for), ` +
        `${s.failures.length} failed or corrupted; RSS ${rss || 'n/a'}`,
    );
  }
  return lines.join('\n');
}
