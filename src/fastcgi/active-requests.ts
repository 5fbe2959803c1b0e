// The requests one FastCGI connection has begun and not yet ended, by request id.
//
// Not a Map: V8 rehashes a Map's table as entries come and go, and when the Map is long-lived (a
// keep-alive connection's) the new table is allocated in the old generation. One add and one
// delete per request then fill the old generation with dead tables, megabytes of them on a busy
// connection before a full GC takes them back. No web server we serve multiplexes, so a
// connection holds one request at a time: that one lives in a field, and only a multiplexing
// client's further requests go in a Map.

export class ActiveRequests<T extends { readonly id: number }> {
  private first: T | undefined = undefined;
  private more: Map<number, T> | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(id: number): T | undefined {
    const first = this.first;
    if (first !== undefined && first.id === id) return first;
    return this.more === null ? undefined : this.more.get(id);
  }

  /** The caller makes sure no active request has this one's id. */
  add(request: T): void {
    if (this.first === undefined) this.first = request;
    else (this.more ??= new Map()).set(request.id, request);
    this.count++;
  }

  /** False when this request (the same object, not only its id) is not active. */
  remove(request: T): boolean {
    if (this.first === request) this.first = undefined;
    else if (this.more !== null && this.more.get(request.id) === request) this.more.delete(request.id);
    else return false;
    this.count--;
    return true;
  }

  /** The sum of `of` over the active requests. */
  sum(of: (request: T) => number): number {
    let total = this.first === undefined ? 0 : of(this.first);
    if (this.more !== null) for (const request of this.more.values()) total += of(request);
    return total;
  }

  /** Every active request, in no particular order. */
  list(): T[] {
    const all = this.more === null ? [] : [...this.more.values()];
    if (this.first !== undefined) all.push(this.first);
    return all;
  }

  /** Forgets every request and returns them. */
  clear(): T[] {
    const all = this.list();
    this.first = undefined;
    this.more = null;
    this.count = 0;
    return all;
  }
}
