// Node reads every socket, pipe and file stream chunk into a new buffer outside the V8 heap, freed
// only once a GC finds it dead. A relay allocates almost nothing on the V8 heap, so while it moves
// a large body no GC runs and the dead buffers pile up (bench/results/design-figures.md). With
// --expose-gc (SERVICE_NODE_FLAGS), a young-generation GC after every few MiB read frees them; a
// scavenge of the small young space is cheap next to the copying it cleans up after. Without the flag (tests that start the script bare) this does nothing.

const EVERY_BYTES = 4 * 1024 * 1024;
const collect = globalThis.gc;
let unread = 0;

/** Count bytes just read from a socket, a pipe or a file. */
export function bytesRead(count: number): void {
  unread += count;
  if (unread < EVERY_BYTES || collect === undefined) return;
  unread = 0;
  collect({ type: 'minor' });
}
