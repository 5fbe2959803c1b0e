// HttpSink (wsgi-run's answers): a drain waiter registered before the answer ends is still called.
// The Job ends an answer once its Content-Length is delivered, possibly right after a write that
// pushed back; node:http never emits 'drain' for a finished response, and the bridge waiting on it
// to read the worker's last frames kept that worker busy for good.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpSink } from '../../src/http/http-sink.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server on 127.0.0.1 whose one handler is `handle`; resolves to its port. */
async function serve(handle: (sink: HttpSink) => void): Promise<number> {
  const server = http.createServer((req, res) => handle(new HttpSink(req, res, { owner: false })));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** GET the body; the client reads only after `delayMs`, so the server's writes push back first. */
function get(port: number, delayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.pause();
        let bytes = 0;
        setTimeout(() => {
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => resolve(bytes));
          res.resume();
        }, delayMs);
      })
      .on('error', reject);
  });
}

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('HttpSink drain waiters', () => {
  it('calls a waiter registered before end(), which a finished response never drains', async () => {
    const piece = Buffer.alloc(64 * 1024, 0x63);
    let written = 0;
    let drained = 0;
    const port = await serve((sink) => {
      sink.start('200 OK', [['Content-Type', 'application/octet-stream']]);
      let more = true;
      while (more) {
        more = sink.write(piece);
        written += piece.length;
      }
      sink.onDrain(() => drained++);
      sink.end();
    });
    expect(await get(port, 100)).toBe(written);
    await until(() => drained > 0);
    expect(drained).toBe(1);
  });

  it('calls a waiter registered after end() at once', async () => {
    let late = 0;
    const port = await serve((sink) => {
      sink.start('200 OK', [['Content-Length', '2']]);
      sink.write(Buffer.from('ok'));
      sink.end();
      sink.onDrain(() => late++);
    });
    expect(await get(port, 0)).toBe(2);
    await until(() => late > 0);
    expect(late).toBe(1);
  });
});
