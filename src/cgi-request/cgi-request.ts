// The decisions of one CGI request, in one place for both ways a CGI request reaches wsgikit: the
// Node entry (src/cgi/run-cgi.ts) and the user's daemon, for a request the native launcher relayed
// to it (relayed-cgi.ts, run by the FastCGI responder). Which .wsgi (the argument, PATH_TRANSLATED
// of an Action handler, or SCRIPT_FILENAME), the environ's repair, the app's settings, whose
// request it is. Its own folder, below both front ends, so that neither imports the other's.

import { existsSync } from 'node:fs';
import { isOwnerRequest } from '../app/owner.js';
import type { ResolvedApp } from '../app/resolve-app.js';
import { DEFAULT_HOST_SETTINGS_FILE } from '../app/settings.js';
import { WsgikitError } from '../errors.js';
import type { Environ } from '../exchange.js';
import { repairEnvironOnDisk } from '../environ/repair-fs.js';
import { fsPath } from '../environ/repair-paths.js';

export interface CgiDecision {
  resolved: ResolvedApp;
  /** The repaired environ the app gets. */
  environ: Environ;
  /** What `explain = true` asks to log, else null. */
  explain: string[] | null;
  /** The visitor is the app's owner: tracebacks may be shown. */
  owner: boolean;
}

/** The host settings file a CGI request uses: the one named, else the default when there is one. */
export function cgiHostSettingsFile(named: string | undefined): string | null {
  return named ?? (existsSync(DEFAULT_HOST_SETTINGS_FILE) ? DEFAULT_HOST_SETTINGS_FILE : null);
}

/**
 * Finds and resolves the request's app (`resolve` checks it against the settings and roots of the
 * caller) and repairs the environ for it. Throws a WsgikitError when the request cannot be served.
 */
export function decideCgi(
  vars: Environ,
  appArgument: string | null,
  resolve: (appFile: string, documentRoot: string | undefined) => ResolvedApp,
): CgiDecision {
  const first = repairEnvironOnDisk({ vars, mount: null });
  const resolved = resolve(appArgument ?? first.appFile ?? fromServer(vars), vars.DOCUMENT_ROOT || undefined);
  const { settings } = resolved;
  const repair = settings.mount === null ? first : repairEnvironOnDisk({ vars, mount: settings.mount });
  const owner = settings.tracebacks === 'owner' && isOwnerRequest(settings, vars.REMOTE_ADDR ?? '', vars.HTTP_COOKIE);
  return { resolved, environ: repair.environ, explain: settings.explain ? repair.explain : null, owner };
}

/** The CGI script named by the server: PATH_TRANSLATED (Action handler) is handled by the repair. */
function fromServer(vars: Environ): string {
  const file = vars.SCRIPT_FILENAME;
  if (!file) {
    throw new WsgikitError(
      'WSGIKIT_APP_NOT_FOUND',
      'No .wsgi was named: give it as the argument of wsgi-cgi, run a .wsgi whose first line is ' +
        '#!/usr/bin/env wsgi-cgi, or use it as an Action handler for .wsgi files.',
    );
  }
  return fsPath(file);
}
