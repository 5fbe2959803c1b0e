// Files wsgikit runs by path. Resolved from this module, which sits at the top of dist/ both as a
// module of its own and inside the bundled CGI program (dist/wsgi-cgi-main.cjs), so one rule holds
// for both.

import { fileURLToPath } from 'node:url';

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

/** The Python half of the bridge: the script that imports and runs wsgi_bridge.py. */
export const BRIDGE_SCRIPT = here('./python-bridge/wsgi_bridge_start.py');
/** The bridge itself: what a chroot holds and runs directly (a chroot keeps no __pycache__ of ours). */
export const BRIDGE_MODULE = here('./python-bridge/wsgi_bridge.py');
/** The FastCGI responder, started as the user's daemon behind wsgi-cgi. */
export const WSGI_FCGI_SCRIPT = here('./cli/wsgi-fcgi.js');

/**
 * Node options for the long-running wsgi-fcgi: the same in its shebang, in every command the docs
 * give and in the CGI daemon's start (test/unit/service-flags.test.ts keeps them in step). V8 reads
 * them only at start: they cannot be set from inside the program (bench/results/design-figures.md).
 * --max-semi-space-size=1: V8 grows its young generation to 2 × 16 MiB under a steady request
 *   load; capped, the service keeps its throughput with less memory and a lower p99 (shorter
 *   scavenges).
 * --single-threaded: no V8 work on background threads. A service allocating per request scavenges
 *   every few ms, and each time V8 woke its GC helper threads: collecting on the main thread alone
 *   costs the process less CPU per request than those wake-ups on a host with few cores. Compiling
 *   hot functions on the main thread too keeps the compilers' memory in one malloc arena instead
 *   of one per helper thread, which the host pays for as long as the service runs; a compile holds
 *   the loop up only while the service warms up.
 * --expose-gc: read-buffers.ts frees the buffers of large transfers with it, and idle-gc.ts
 *   gives back what start-up and each burst of requests leave in the old generation.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--single-threaded', '--expose-gc'];
