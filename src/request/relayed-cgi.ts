// The user's CGI daemon's side of a request the native launcher relayed (src/cgi/launcher/): the
// launcher sends its whole environment, its arguments and its working folder, and decides
// nothing. The daemon reads them as the Node entry reads its own (cgi-argv.ts), and decides what
// the Node entry decides (decide-request.ts). What the daemon must not serve it declines before the
// body is sent, and the launcher then execs the Node entry with the request untouched. Also here:
// the params by which the Node entry relays a request it has decided itself, and those by which
// wsgi-check --start asks the daemon to import an app, and their reading.

import { isAbsolute, resolve } from 'node:path';
import type { ResolvedApp } from '../app/resolve-app.js';
import { requestVariables, utf8Bytes } from '../environ/cgi.js';
import { fsPath } from '../environ/repair-paths.js';
import { WsgikitError } from '../errors.js';
import type { Environ } from '../exchange.js';
import type { AppDirectory, ServedApp } from '../pool/app-directory.js';
import { parseCgiArgv } from './cgi-argv.js';
import { CGI_NO_APP_FIX, cgiHostSettingsFile } from './cgi-front-end.js';
import { decideRequest, type FrontEnd, type RequestDecision } from './decide-request.js';
import { refusal } from './refusal.js';

/** The param by which the launcher announces itself; its value is the version of its protocol. */
export const LAUNCHER_PARAM = '=wsgikit.launcher';
/** The param that names the app of a request the Node entry relays (its environ already repaired). */
const RELAYED_APP_PARAM = '=wsgikit.app';
/** The param of wsgi-check --start asking the daemon to import an app (no request runs). */
const WARM_PARAM = '=wsgikit.warm';
const ARG_PARAM = '=wsgikit.arg.';
const CWD_PARAM = '=wsgikit.cwd';

export type RelayedCgi =
  { decline: string } | { decline: null; served: ServedApp; decision: RequestDecision<{ resolved: ResolvedApp }> };

/** How the daemon looks up the app of a relayed request, made once per daemon. */
export interface RelayedCgiFrontEnd {
  directory: AppDirectory;
  daemonHostFile: string | null;
  /** The app is resolved without its pool: the daemon keeps no workers for an app it declines. */
  frontEnd: FrontEnd<{ resolved: ResolvedApp }>;
}

export function relayedCgiFrontEnd(directory: AppDirectory, daemonHostFile: string | null): RelayedCgiFrontEnd {
  return {
    directory,
    daemonHostFile,
    frontEnd: {
      lookup: (appFile, documentRoot) => ({ resolved: directory.resolve(appFile, documentRoot) }),
      noAppFix: CGI_NO_APP_FIX,
    },
  };
}

/**
 * Decides a relayed request, or says why it is the Node entry's: its host settings are not the
 * daemon's, its arguments are not a request's, or the app runs one-shot (cgi_daemon = false).
 * Throws a WsgikitError when the request cannot be served, as the Node entry would refuse it.
 */
export function decideRelayedCgi(params: Record<string, string>, daemon: RelayedCgiFrontEnd): RelayedCgi {
  const { directory, daemonHostFile } = daemon;
  const argv: string[] = [];
  for (let i = 1; params[ARG_PARAM + i] !== undefined; i++) argv.push(fsPath(params[ARG_PARAM + i]!));
  const parsed = parseCgiArgv(argv, true, params.QUERY_STRING);
  if (parsed.kind !== 'serve') return { decline: `the arguments ${JSON.stringify(argv)} are not a request's` };
  const hostFile = cgiHostSettingsFile(parsed.hostSettings);
  if (hostFile !== daemonHostFile) return { decline: `host settings ${hostFile} are not this daemon's` };
  const cwd = params[CWD_PARAM] === undefined ? '/' : fsPath(params[CWD_PARAM]);
  const app = parsed.app === null ? null : isAbsolute(parsed.app) ? parsed.app : resolve(cwd, parsed.app);
  const decision = decideRequest(requestVariables(params), app, false, daemon.frontEnd);
  const { resolved } = decision.served;
  if (!resolved.settings.cgiDaemon) return { decline: 'the app runs one-shot (cgi_daemon = false)' };
  let served: ServedApp;
  try {
    served = { resolved, pool: directory.pool(resolved) };
  } catch (error) {
    throw refusal(error, resolved.checked.file);
  }
  return { decline: null, served, decision };
}

/**
 * The PARAMS by which the Node entry relays a request it has decided: the environ it repaired, and
 * its app under RELAYED_APP_PARAM, as bytes like every param (a name beyond latin-1 survives).
 */
export function nodeEntryParams(environ: Environ, appFile: string): Environ {
  return { ...environ, [RELAYED_APP_PARAM]: utf8Bytes(appFile) };
}

/** The PARAMS that ask the user's daemon to import `appFile` now (wsgi-check --start). */
export function warmParams(appFile: string): Environ {
  return { [WARM_PARAM]: utf8Bytes(appFile) };
}

/**
 * The pool of the app a request from wsgi-check --start names, checked as a relayed request's app
 * is (allowed roots, cgi_daemon), or undefined for any other request. Throws the WsgikitError that
 * refuses the app.
 */
export function warmPool(params: Environ, daemon: RelayedCgiFrontEnd): ServedApp['pool'] | undefined {
  const app = params[WARM_PARAM];
  if (app === undefined) return undefined;
  const appFile = fsPath(app);
  const { directory } = daemon;
  try {
    const resolved = directory.resolve(appFile, undefined);
    if (!resolved.settings.cgiDaemon) {
      throw new WsgikitError(
        'WSGIKIT_APP_REFUSED',
        'The app runs one-shot (cgi_daemon = false): the daemon keeps no workers for it.',
      );
    }
    return directory.pool(resolved);
  } catch (error) {
    throw refusal(error, appFile);
  }
}

/**
 * The app a request relayed by the Node entry names, or undefined for any other request. Taken
 * out of `params`, which are then the environ the Node entry repaired.
 */
export function takeNodeEntryApp(params: Environ): string | undefined {
  const app = params[RELAYED_APP_PARAM];
  if (app === undefined) return undefined;
  delete params[RELAYED_APP_PARAM];
  return fsPath(app);
}
