// The test helpers the benchmark reuses (test/helpers/servers.ts) import vitest for their
// failure hooks and assertions; the benchmark runs outside vitest, so scripts/run-bench.mjs maps
// 'vitest' to this: hooks do nothing, and an assertion helper called by mistake says so.

export function afterEach(): void {}

export function expect(): never {
  throw new Error('bench: a vitest assertion helper was called outside vitest');
}
