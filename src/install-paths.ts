// Files wsgikit runs by path. Resolved from this module, which sits at the top of dist/ both as a
// module of its own and inside the bundled CGI program (dist/wsgi-cgi-main.cjs), so one rule holds
// for both.

import { fileURLToPath } from 'node:url';

const here = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

/** The Python half of the bridge: the script that imports and runs wsgi_bridge.py. */
export const BRIDGE_SCRIPT = here('./python-bridge/wsgi_bridge_start.py');
/** The bridge itself: what a chroot holds and runs directly (a chroot keeps no __pycache__ of ours). */
export const BRIDGE_MODULE = here('./python-bridge/wsgi_bridge.py');
/** The FastCGI responder, started as the per-app daemon behind wsgi-cgi. */
export const WSGI_FCGI_SCRIPT = here('./cli/wsgi-fcgi.js');
