// read-buffers.ts asks V8 for a young-generation GC after every 4 MiB read, when the service runs
// with --expose-gc, so that dead read buffers are freed during large transfers (bench: RSS growth).
import { afterEach, describe, expect, it, vi } from 'vitest';

const MiB = 1024 * 1024;
const saved = globalThis.gc;

async function freshModule(): Promise<typeof import('../../src/read-buffers.js')> {
  vi.resetModules();
  return import('../../src/read-buffers.js');
}

afterEach(() => {
  globalThis.gc = saved;
});

describe('bytesRead', () => {
  it('asks for one minor GC per 4 MiB read, counting across calls', async () => {
    const gc = vi.fn();
    globalThis.gc = gc as unknown as typeof globalThis.gc;
    const { bytesRead } = await freshModule();
    for (let i = 0; i < 63; i++) bytesRead(64 * 1024); // 4 MiB less 64 KiB
    expect(gc).not.toHaveBeenCalled();
    bytesRead(64 * 1024);
    expect(gc).toHaveBeenCalledTimes(1);
    expect(gc).toHaveBeenCalledWith({ type: 'minor' });
    bytesRead(10 * MiB);
    bytesRead(1);
    expect(gc).toHaveBeenCalledTimes(2);
  });

  it('does nothing without --expose-gc', async () => {
    globalThis.gc = undefined;
    const { bytesRead } = await freshModule();
    expect(() => bytesRead(100 * MiB)).not.toThrow();
  });
});
