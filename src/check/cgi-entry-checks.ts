// Which `wsgi-cgi` serves the app's CGI requests, the native launcher or the Node entry, and what
// the other would cost on this host (docs/cgi-launcher.md).

import process from 'node:process';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { finding, type CheckContext, type Finding } from './types.js';

/** Where the CGI layouts find it (docs/apache-cgi.md), else this package's own. */
const INSTALLED = '/usr/local/bin/wsgi-cgi';
const PACKAGED = fileURLToPath(new URL('../wsgi-cgi', import.meta.url));
/** Builds the launcher in an installed package (docs/cgi-launcher.md). */
const BUILD_SCRIPT = fileURLToPath(new URL('../../scripts/launcher-build.mjs', import.meta.url));

/**
 * A note on the entry `program` (default: the installed one); none for a FastCGI-only check.
 * `nodeStartMs` is measured when not given.
 */
export function cgiEntryChecks(
  ctx: Pick<CheckContext, 'mode' | 'real' | 'settings'>,
  program = fs.existsSync(INSTALLED) ? INSTALLED : PACKAGED,
  nodeStartMs?: number,
): Finding[] {
  if (ctx.mode === 'fcgi' || ctx.real === null) return [];
  let native: boolean;
  try {
    native = fs.readFileSync(program).subarray(0, 4).toString('latin1') === '\x7fELF';
  } catch {
    return []; // not installed: suexec.* / shebang.* say so
  }
  const ms = `${Math.round(nodeStartMs ?? measureNodeStart())} ms on this host`;
  const daemon = ctx.settings?.cgiDaemon !== false;
  if (native) {
    const message = daemon
      ? `${program} is the native launcher: this app's CGI requests reach its daemon without starting Node. ` +
        `The Node entry would start Node for every request first (${ms}).`
      : `${program} is the native launcher, but this app runs one-shot (cgi_daemon = false): each request is ` +
        `handed to the Node entry, which starts Node (${ms}) and then Python.`;
    return [finding('daemon.cgi-entry', 'info', program, message)];
  }
  return [
    finding(
      'daemon.cgi-entry',
      'info',
      program,
      `${program} is the Node entry: every CGI request starts Node first (${ms}). The native launcher, built ` +
        'when a C compiler is there at install, would relay ' +
        (daemon
          ? "this app's requests to its daemon in about a millisecond."
          : 'them to the Node entry all the same (cgi_daemon = false).'),
      daemon ? `apt-get install gcc && node ${BUILD_SCRIPT}   (as root)` : null,
    ),
  ];
}

/** Node's own start, as a CGI request pays it: `node -e 0` with an empty environment. */
function measureNodeStart(): number {
  const start = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0'], { env: {}, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - start) / 1e6;
}
