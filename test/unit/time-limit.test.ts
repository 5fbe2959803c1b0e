import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { within } from '../../src/time-limit.js';

describe('within', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('gives what the promise settles with before the time is up, and leaves no timer behind', async () => {
    const waited = within(new Promise<string>((resolve) => setTimeout(resolve, 50, 'answer')), 100);
    await vi.advanceTimersByTimeAsync(50);
    await expect(waited).resolves.toBe('answer');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives null once the time is up first', async () => {
    const waited = within(new Promise<string>(() => {}), 100);
    await vi.advanceTimersByTimeAsync(99);
    let settled = false;
    void waited.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(waited).resolves.toBeNull();
  });

  it('passes a rejection through, and clears its timer', async () => {
    const waited = within(Promise.reject(new Error('refused')), 100);
    await expect(waited).rejects.toThrow('refused');
    expect(vi.getTimerCount()).toBe(0);
  });
});
