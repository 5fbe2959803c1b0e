// The user's CGI daemon's side of a request the native launcher relayed (src/cgi/launcher/): the
// launcher sends its whole environment, its arguments and its working folder, and decides
// nothing. The daemon reads them as the Node entry reads its own (cgi-argv.ts), and decides what
// the Node entry decides (cgi-request.ts). What the daemon must not serve it declines before the
// body is sent, and the launcher then execs the Node entry with the request untouched.

import { isAbsolute, resolve } from 'node:path';
import { requestVariables } from '../environ/cgi.js';
import { fsPath } from '../environ/repair-paths.js';
import type { AppDirectory, ServedApp } from '../pool/app-directory.js';
import { parseCgiArgv } from './cgi-argv.js';
import { cgiHostSettingsFile, decideCgi, type CgiDecision } from './cgi-request.js';

/** The param by which the launcher announces itself; its value is the version of its protocol. */
export const LAUNCHER_PARAM = '=wsgikit.launcher';
/** The param that names the app of a request the Node entry relays (its environ already repaired). */
export const RELAYED_APP_PARAM = '=wsgikit.app';
const ARG_PARAM = '=wsgikit.arg.';
const CWD_PARAM = '=wsgikit.cwd';

export type RelayedCgi = { decline: string } | { decline: null; served: ServedApp; decision: CgiDecision };

/**
 * Decides a relayed request, or says why it is the Node entry's: its host settings are not the
 * daemon's, its arguments are not a request's, or the app runs one-shot (cgi_daemon = false).
 * Throws a WsgikitError when the request cannot be served, as the Node entry would refuse it.
 * `onAppFile` learns the .wsgi as soon as it is known, for the refusal's log.
 */
export function decideRelayedCgi(
  params: Record<string, string>,
  directory: AppDirectory,
  daemonHostFile: string | null,
  onAppFile: (file: string) => void,
): RelayedCgi {
  const argv: string[] = [];
  for (let i = 1; params[ARG_PARAM + i] !== undefined; i++) argv.push(fsPath(params[ARG_PARAM + i]!));
  const parsed = parseCgiArgv(argv, true, params.QUERY_STRING);
  if (parsed.kind !== 'serve') return { decline: `the arguments ${JSON.stringify(argv)} are not a request's` };
  const hostFile = cgiHostSettingsFile(parsed.hostSettings);
  if (hostFile !== daemonHostFile) return { decline: `host settings ${hostFile} are not this daemon's` };
  const cwd = params[CWD_PARAM] === undefined ? '/' : fsPath(params[CWD_PARAM]);
  const app = parsed.app === null ? null : isAbsolute(parsed.app) ? parsed.app : resolve(cwd, parsed.app);
  let where: [string, string | undefined] = ['', undefined];
  const decision = decideCgi(requestVariables(params), app, (appFile, documentRoot) => {
    onAppFile(appFile);
    where = [appFile, documentRoot];
    return directory.resolve(appFile, documentRoot);
  });
  // Declined before its pool is made: the daemon keeps no workers for a one-shot app.
  if (!decision.resolved.settings.cgiDaemon) return { decline: 'the app runs one-shot (cgi_daemon = false)' };
  return { decline: null, served: directory.lookup(...where), decision };
}
