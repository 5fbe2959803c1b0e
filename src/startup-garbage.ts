// Starting up (loading the modules, reading settings, compiling) leaves megabytes of dead objects
// in V8's old generation, and under steady load V8 runs no full GC until that generation reaches a
// limit well above what the service keeps alive, so a long-running front end would carry them in
// its private memory for its first minutes of serving. One full GC when it is ready, before its
// first request, gives them back. It needs --expose-gc (SERVICE_NODE_FLAGS): without the flag
// (tests that start the script bare) this does nothing.

/** Collect what start-up left behind; call once, when ready to serve. */
export function collectStartupGarbage(): void {
  globalThis.gc?.();
}
