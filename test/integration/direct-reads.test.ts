// src/direct-reads.ts: sockets that read into one shared buffer and hand each read to one function.
// What it must keep: every byte, in order, per socket, with many sockets reading at once; chunks a
// receiver keeps stay as they were after later reads; pause() holds the reads back; a socket
// nobody claims still gives 'data'; a child's pipe taken over reads the same and still closes.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connected as connectedClient } from '../helpers/unix-client.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { acceptWithDirectReads } from '../../src/fastcgi/accept.js';
import { adoptForDirectReads, receiveReads } from '../../src/direct-reads.js';
import { mulberry32 } from '../helpers/mulberry32.js';
import { systemPython } from '../helpers/pythons.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function directServer(onSocket: (socket: net.Socket) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-direct-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const server = net.createServer(onSocket);
  const path = join(dir, 's.sock');
  await new Promise<void>((done) => server.listen(path, done));
  cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
  expect(acceptWithDirectReads(server)).toBe(true);
  return path;
}

async function connected(path: string): Promise<net.Socket> {
  const client = await connectedClient(path);
  cleanups.push(() => void client.destroy());
  return client;
}

function sha(chunks: readonly Buffer[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

describe('direct reads on accepted sockets', () => {
  it('gives each of many sockets its own bytes in order, and kept chunks never change', async () => {
    const received = new Map<net.Socket, Buffer[]>();
    const firstCopies = new Map<net.Socket, Buffer>();
    let dataEvents = 0;
    const ended: net.Socket[] = [];
    const path = await directServer((socket) => {
      const chunks: Buffer[] = [];
      received.set(socket, chunks);
      expect(
        receiveReads(socket, (chunk) => {
          if (chunks.length === 0) firstCopies.set(socket, Buffer.from(chunk));
          chunks.push(chunk); // kept as given: later reads must not write over it
        }),
      ).toBe(true);
      socket.on('data', () => dataEvents++);
      socket.on('end', () => {
        ended.push(socket);
        socket.end();
      });
    });

    const random = mulberry32(16);
    const sent: Buffer[][] = [];
    const clients = await Promise.all(Array.from({ length: 8 }, () => connected(path)));
    // Interleaved writes of random sizes, up to past the shared buffer's size.
    for (let round = 0; round < 40; round++) {
      clients.forEach((client, i) => {
        const piece = Buffer.alloc(1 + Math.floor(random() * 90_000));
        for (let j = 0; j < piece.length; j++) piece[j] = (random() * 256) | 0;
        (sent[i] ??= []).push(piece);
        client.write(piece);
      });
      await new Promise((done) => setImmediate(done));
    }
    for (const client of clients) client.end();
    await vi.waitFor(() => expect(ended).toHaveLength(8), { timeout: 10_000 });

    const byHash = new Set([...received.values()].map(sha));
    for (const pieces of sent) expect(byHash.has(sha(pieces))).toBe(true);
    for (const [socket, chunks] of received) expect(chunks[0]!.equals(firstCopies.get(socket)!)).toBe(true);
    expect(dataEvents).toBe(0);
  });

  it('reads nothing more while paused, and the rest after resume()', async () => {
    let socket: net.Socket | null = null;
    const chunks: Buffer[] = [];
    const path = await directServer((accepted) => {
      socket = accepted;
      receiveReads(accepted, (chunk) => {
        chunks.push(chunk);
        if (chunks.length === 1) accepted.pause();
      });
    });
    const client = await connected(path);
    const body = Buffer.alloc(4 * 1024 * 1024, 7);
    client.write(body);
    await vi.waitFor(() => expect(chunks.length).toBe(1));
    await new Promise((done) => setTimeout(done, 150));
    expect(chunks.length).toBe(1);
    expect(client.writableLength).toBeGreaterThan(0); // the kernel's buffers are full: held back
    socket!.resume();
    await vi.waitFor(() => expect(Buffer.concat(chunks).length).toBe(body.length), { timeout: 10_000 });
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
  });

  it("gives 'data' events to a socket nobody claimed, and cannot be claimed after its first read", async () => {
    const got: Buffer[] = [];
    let claimedLate: boolean | null = null;
    const path = await directServer((socket) => {
      socket.once('data', () => (claimedLate = receiveReads(socket, () => {})));
      socket.on('data', (chunk: Buffer) => got.push(chunk));
    });
    const client = await connected(path);
    client.write('hello');
    await vi.waitFor(() => expect(Buffer.concat(got).toString()).toBe('hello'));
    expect(claimedLate).toBe(false);
  });

  it('claims only sockets made for it', () => {
    const plain = new net.Socket();
    expect(receiveReads(plain, () => {})).toBe(false);
    expect(receiveReads({}, () => {})).toBe(false);
    plain.destroy();
  });
});

describe.runIf(systemPython)("a child's pipe taken over for direct reads", () => {
  it('reads every byte the child writes, then closes, and the child still closes', async () => {
    // 3 MB of a pattern on fd 3, in writes of odd sizes.
    const script = [
      'import os',
      'data = bytes((i * 7 + i // 251) % 256 for i in range(3 * 1024 * 1024))',
      'at = 0',
      'while at < len(data):',
      '    at += os.write(3, data[at:at + 7777])',
    ].join('\n');
    const child = spawn(systemPython!.path, ['-c', script], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
    const pipe = child.stdio[3];
    const socket = adoptForDirectReads(pipe);
    expect(socket).not.toBeNull();
    const chunks: Buffer[] = [];
    let dataEvents = 0;
    socket!.on('data', () => dataEvents++);
    expect(receiveReads(socket, (chunk) => chunks.push(chunk))).toBe(true);
    const socketClosed = new Promise((done) => socket!.once('close', done));
    const childClosed = new Promise((done) => child.once('close', done));
    await socketClosed;
    await childClosed;

    const got = Buffer.concat(chunks);
    expect(got.length).toBe(3 * 1024 * 1024);
    let wrong = -1;
    for (let i = 0; i < got.length && wrong < 0; i++) if (got[i] !== (i * 7 + Math.floor(i / 251)) % 256) wrong = i;
    expect(wrong).toBe(-1);
    expect(dataEvents).toBe(0);
  });

  it('leaves a pipe it does not know as it is', () => {
    expect(adoptForDirectReads(new net.Socket())).toBeNull();
    expect(adoptForDirectReads(null)).toBeNull();
  });
});
