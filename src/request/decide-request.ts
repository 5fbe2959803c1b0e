// The decisions of one request, the same for every front end: the FastCGI responder
// (src/fastcgi/responder.ts, and the raw CGI requests the native launcher relays to it,
// relayed-cgi.ts), the CGI Node entry (src/cgi/run-cgi.ts) and wsgi-run --layout
// (layout-request.ts). Which .wsgi runs, the environ's repair (with the app's mount), what explain
// logs, and whether the visitor is the app's owner are made here and nowhere else, so that no front
// end can decide them its own way; src/app/resolve-app.ts keeps the same promise for the app.
// A front end only names an app (an argument, --app, the app the Node entry relayed) and says how
// to resolve one.

import { isOwnerRequest } from '../app/owner.js';
import type { ResolvedApp } from '../app/resolve-app.js';
import { WsgikitError } from '../errors.js';
import type { Environ } from '../exchange.js';
import { repairEnvironOnDisk } from '../environ/repair-fs.js';
import { fsPath } from '../environ/repair-paths.js';
import type { RepairResult } from '../environ/repair.js';
import { refusal } from './refusal.js';

/** What a front end brings to the decisions: made once per front end, not per request. */
export interface FrontEnd<T extends { resolved: ResolvedApp }> {
  /**
   * The app of a .wsgi, resolved and checked against this front end's settings and roots; throws
   * the WsgikitError that refuses it. `documentRoot`: the app's log must not land under it.
   */
  lookup(appFile: string, documentRoot: string | undefined): T;
  /** What to do when the server names no .wsgi, in this front end's words. */
  noAppFix: string;
  /** Every visitor sees tracebacks: wsgi-run, which serves the developer at their desk. */
  everyoneIsOwner?: boolean;
}

export interface RequestDecision<T> {
  /** What `lookup` returned for the request's .wsgi. */
  served: T;
  /** The repaired environ the app gets. */
  environ: Environ;
  /** What `explain = true` asks to log, else null. */
  explain: string[] | null;
  /** The visitor is the app's owner: tracebacks may be shown. */
  owner: boolean;
}

/**
 * Decides the request `vars` (the server's variables) asks for. `named`: the .wsgi the front end
 * names, or null for the one the server names (an Action handler's PATH_TRANSLATED, else
 * SCRIPT_FILENAME). `repaired`: `vars` is an environ the Node entry has repaired and decided
 * already (with `named` its app), so it is not repaired twice. Throws the WsgikitError that
 * refuses the request; once the .wsgi is known, its refusal is in the owner's log (refusal.ts).
 */
export function decideRequest<T extends { resolved: ResolvedApp }>(
  vars: Environ,
  named: string | null,
  repaired: boolean,
  frontEnd: FrontEnd<T>,
): RequestDecision<T> {
  // Without a named app, the repair finds the one an Action handler names in PATH_INFO; the
  // app's mount is known only once it is resolved, and asks for a second repair.
  let repair: RepairResult | null = named === null ? repairEnvironOnDisk({ vars, mount: null }) : null;
  const appFile = named ?? repair?.appFile ?? scriptFilename(vars, frontEnd.noAppFix);
  try {
    const served = frontEnd.lookup(appFile, vars.DOCUMENT_ROOT || undefined);
    const { settings } = served.resolved;
    let environ = vars;
    let explain: string[] | null = null;
    if (!repaired) {
      if (repair === null || settings.mount !== null) repair = repairEnvironOnDisk({ vars, mount: settings.mount });
      environ = repair.environ;
      if (settings.explain) explain = repair.explain;
    }
    const owner =
      frontEnd.everyoneIsOwner === true ||
      (settings.tracebacks === 'owner' && isOwnerRequest(settings, vars.REMOTE_ADDR ?? '', vars.HTTP_COOKIE));
    return { served, environ, explain, owner };
  } catch (error) {
    throw refusal(error, appFile);
  }
}

/** The .wsgi the server names as the CGI script. */
function scriptFilename(vars: Environ, fix: string): string {
  const file = vars.SCRIPT_FILENAME;
  if (!file) {
    const problem = 'The server named no SCRIPT_FILENAME, so there is no .wsgi to run.';
    throw new WsgikitError('WSGIKIT_APP_NOT_FOUND', problem, { fix });
  }
  return fsPath(file);
}
