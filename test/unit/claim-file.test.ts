// The claim tokens of queued requests: the front end and the bridge share one file offset, so a
// token is read by exactly one of them. Here the test reads the shared description itself, as the
// bridge does from its fd 5.
import { readSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ClaimFile } from '../../src/python-bridge/claim-file.js';

const opened: ClaimFile[] = [];
afterEach(() => {
  for (const file of opened.splice(0)) file.close();
});

function open(): ClaimFile {
  const file = ClaimFile.open();
  expect(file).not.toBeNull();
  opened.push(file!);
  return file!;
}

/** What the bridge does on a Q: read one byte at the shared offset. */
function bridgeClaims(file: ClaimFile): boolean {
  return readSync(file.fd, Buffer.alloc(1), 0, 1, null) === 1;
}

/** `count` requests queued one at a time, as the pool does: each found by the bridge, then answered. */
function serveInTurn(file: ClaimFile, count: number): void {
  for (let i = 0; i < count; i++) {
    file.put();
    expect(bridgeClaims(file)).toBe(true);
    file.claimed();
  }
}

describe('ClaimFile', () => {
  it('a token is the bridge’s or the front end’s, never both', () => {
    const file = open();
    file.put();
    expect(file.takeBack()).toBe(1);
    expect(bridgeClaims(file)).toBe(false); // the bridge then skips the request
    file.put();
    expect(bridgeClaims(file)).toBe(true);
    expect(file.takeBack()).toBe(0);
  });

  it('takes back the newest tokens: those the bridge, reading in order, has not reached', () => {
    const file = open();
    file.put(); // the running request, queued earlier
    file.put(); // the one queued behind it
    expect(bridgeClaims(file)).toBe(true); // the bridge has started the first
    expect(file.takeBack()).toBe(1);
    file.put();
    file.put();
    expect(file.takeBack()).toBe(2); // neither started: both come back
    expect(bridgeClaims(file)).toBe(false);
    expect(bridgeClaims(file)).toBe(false);
  });

  it('counts a token as read once the bridge answers its request', () => {
    const file = open();
    file.put();
    expect(bridgeClaims(file)).toBe(true);
    file.claimed();
    expect(file.outstanding).toBe(0);
    expect(file.takeBack()).toBe(0);
    file.put();
    expect(file.takeBack()).toBe(1);
  });

  it('writes tokens ahead in batches, and a take-back counts only the requests’ own', () => {
    const file = open();
    serveInTurn(file, 300); // past several batches: every token is found
    file.put();
    file.put();
    expect(bridgeClaims(file)).toBe(true);
    expect(file.takeBack()).toBe(1); // the spare tokens read back with it are not requests
    expect(bridgeClaims(file)).toBe(false); // nothing is left for a Q the bridge reads late
    serveInTurn(file, 1);
  });

  it('after giving its pages back, puts the next token where the bridge reads', () => {
    const file = open();
    // Enough tokens for a trim (the file is truncated once none is outstanding).
    serveInTurn(file, 70_001);
    file.put();
    expect(file.takeBack()).toBe(1);
    expect(bridgeClaims(file)).toBe(false);
  });

  it('takes nothing back once closed', () => {
    const file = open();
    file.put();
    file.close();
    expect(file.takeBack()).toBe(0);
  });
});
