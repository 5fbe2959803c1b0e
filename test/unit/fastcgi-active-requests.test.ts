import { describe, expect, it } from 'vitest';
import { ActiveRequests } from '../../src/fastcgi/active-requests.js';

interface Fake {
  readonly id: number;
  bytes: number;
}

const request = (id: number, bytes = 0): Fake => ({ id, bytes });

describe('ActiveRequests', () => {
  it('holds one request at a time, as a connection without multiplexing does', () => {
    const active = new ActiveRequests<Fake>();
    for (let i = 0; i < 3; i++) {
      const one = request(1);
      active.add(one);
      expect(active.size).toBe(1);
      expect(active.get(1)).toBe(one);
      expect(active.get(2)).toBeUndefined();
      expect(active.remove(one)).toBe(true);
      expect(active.size).toBe(0);
      expect(active.get(1)).toBeUndefined();
    }
  });

  it('keeps further requests apart from the first, in any order of ending', () => {
    const active = new ActiveRequests<Fake>();
    const [a, b, c] = [request(1, 10), request(2, 20), request(3, 30)];
    active.add(a);
    active.add(b);
    active.add(c);
    expect(active.size).toBe(3);
    expect(active.sum((r) => r.bytes)).toBe(60);
    expect(active.remove(a)).toBe(true);
    expect([active.get(1), active.get(2), active.get(3)]).toEqual([undefined, b, c]);
    // The first slot is free again: a new request there must not hide the others.
    const d = request(4, 40);
    active.add(d);
    expect([active.get(2), active.get(3), active.get(4)]).toEqual([b, c, d]);
    expect(active.sum((r) => r.bytes)).toBe(90);
    expect(active.remove(c)).toBe(true);
    expect(active.list().sort((x, y) => x.id - y.id)).toEqual([b, d]);
  });

  it('removes only the same object, not another request that reuses its id', () => {
    const active = new ActiveRequests<Fake>();
    const old = request(1);
    active.add(old);
    active.remove(old);
    const reused = request(1);
    active.add(reused);
    expect(active.remove(old)).toBe(false);
    expect(active.get(1)).toBe(reused);
    const second = request(2);
    active.add(second);
    expect(active.remove(request(2))).toBe(false);
    expect(active.size).toBe(2);
  });

  it('clear hands back every request and leaves none', () => {
    const active = new ActiveRequests<Fake>();
    const all = [request(7), request(8), request(9)];
    for (const r of all) active.add(r);
    expect(
      active
        .clear()
        .map((r) => r.id)
        .sort(),
    ).toEqual([7, 8, 9]);
    expect(active.size).toBe(0);
    expect(active.list()).toEqual([]);
    expect(active.get(8)).toBeUndefined();
    expect(active.sum(() => 1)).toBe(0);
  });
});
