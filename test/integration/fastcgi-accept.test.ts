// acceptWithDirectReads (src/fastcgi/accept.ts): the sockets it makes behave as Node's own
// (counted for server.close() and getConnections(), half-open as the server says, maxConnections
// still refused), and, on a Node whose spreads copy to maps outside V8's transition tree, accepting
// makes no map per connection: V8's own map log (--log-maps) counts them, in a child process.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { connected as connectedClient } from '../helpers/unix-client.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { acceptWithDirectReads } from '../../src/fastcgi/accept.js';

const ACCEPT_JS = fileURLToPath(new URL('../../dist/fastcgi/accept.js', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-accept-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function listening(server: net.Server): Promise<string> {
  const path = join(tempDir(), 's.sock');
  await new Promise<void>((done) => server.listen(path, done));
  cleanups.push(() => new Promise<void>((done) => (server.listening ? server.close(() => done()) : done())));
  return path;
}

async function connected(path: string): Promise<net.Socket> {
  const client = await connectedClient(path);
  cleanups.push(() => void client.destroy());
  return client;
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((done) => (socket.closed ? done() : socket.once('close', () => done())));
}

/** Whether this V8 gives a spread's copy a map of its own (11 and older): the map test's case. */
const SPREAD_COPIES_DETACHED = Number(process.versions.v8.split('.')[0]) < 12;
const onThisNode = SPREAD_COPIES_DETACHED ? describe : describe.skip;

describe('acceptWithDirectReads', () => {
  it('leaves a server that does not listen yet as it is', () => {
    expect(acceptWithDirectReads(net.createServer())).toBe(false);
  });

  describe('on a listening server', () => {
    it('gives the connection listener sockets that belong to the server, counted until they close', async () => {
      const accepted: net.Socket[] = [];
      const server = net.createServer((socket) => accepted.push(socket));
      const path = await listening(server);
      expect(acceptWithDirectReads(server)).toBe(true);

      const clients = [await connected(path), await connected(path)];
      await vi.waitFor(() => expect(accepted).toHaveLength(2));
      expect(accepted.every((socket) => (socket as unknown as { server: net.Server }).server === server)).toBe(true);
      expect(await connections(server)).toBe(2);

      // server.close() calls back once the accepted sockets are gone, as with Node's own accept.
      let stopped = false;
      server.close(() => (stopped = true));
      accepted[0]!.destroy();
      await closed(clients[0]!);
      expect(await connections(server)).toBe(1);
      expect(stopped).toBe(false);
      accepted[1]!.destroy();
      await vi.waitFor(() => expect(stopped).toBe(true));
    });

    it('passes the data both ways and keeps allowHalfOpen as the server was made', async () => {
      const server = net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.on('data', (chunk: Buffer) => socket.write(chunk));
        socket.on('end', () => socket.end('bye'));
      });
      const path = await listening(server);
      expect(acceptWithDirectReads(server)).toBe(true);
      const client = await connected(path);
      const got: Buffer[] = [];
      client.on('data', (chunk: Buffer) => got.push(chunk));
      client.write('hello ');
      await vi.waitFor(() => expect(Buffer.concat(got).toString()).toBe('hello '));
      client.end(); // half-closed: the server still answers after our end
      await closed(client);
      expect(Buffer.concat(got).toString()).toBe('hello bye');
    });

    it('refuses a connection over maxConnections, as Node does', async () => {
      const accepted: net.Socket[] = [];
      let dropped = 0;
      const server = net.createServer((socket) => accepted.push(socket));
      server.maxConnections = 1;
      server.on('drop', () => dropped++);
      const path = await listening(server);
      expect(acceptWithDirectReads(server)).toBe(true);
      await connected(path);
      await vi.waitFor(() => expect(accepted).toHaveLength(1));
      const second = await connected(path);
      await closed(second);
      expect(accepted).toHaveLength(1);
      expect(dropped).toBe(1);
    });
  });

  onThisNode('on a Node 20 server', () => {
    it('makes no map per accepted socket (V8 --log-maps)', () => {
      // Node's own accept adds emitClose to a copy whose map is outside the transition tree: a new
      // map for nearly every connection. With the options complete, none past the few of start-up.
      const grown = (complete: boolean) => emitCloseMaps(complete, 60) - emitCloseMaps(complete, 20);
      expect(grown(false)).toBeGreaterThanOrEqual(30);
      expect(grown(true)).toBeLessThanOrEqual(2);
    });
  });
});

function connections(server: net.Server): Promise<number> {
  return new Promise((done, fail) => server.getConnections((error, count) => (error ? fail(error) : done(count))));
}

/**
 * The maps V8 made by adding `emitClose` to an object, in a child that accepts `count` connections
 * with Node's own accept or with complete options.
 */
function emitCloseMaps(complete: boolean, count: number): number {
  const dir = tempDir();
  const log = join(dir, 'v8.log');
  const script = `
    import net from 'node:net';
    import { acceptWithDirectReads } from ${JSON.stringify(ACCEPT_JS)};
    const server = net.createServer((socket) => socket.end());
    server.listen(${JSON.stringify(join(dir, 'c.sock'))}, async () => {
      if (${complete} && !acceptWithDirectReads(server)) process.exit(3);
      for (let i = 0; i < ${count}; i++) {
        // The client's own options complete too, so that only the server's sockets are counted.
        const client = new net.Socket({ allowHalfOpen: false, emitClose: false, autoDestroy: true, decodeStrings: false });
        await new Promise((done) => client.connect(server.address()).on('close', done).resume());
      }
      server.close();
    });`;
  const run = spawnSync(
    process.execPath,
    ['--log-maps', `--logfile=${log}`, '--no-logfile-per-isolate', '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 30_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  return readFileSync(log, 'latin1')
    .split('\n')
    .filter((line) => line.startsWith('map,Transition,') && line.endsWith(',emitClose')).length;
}
