// What a CGI request brings to the decisions (decide-request.ts), wherever it is decided: in the
// Node entry (src/cgi/run-cgi.ts) or in the user's daemon, for a request the native launcher
// relays (relayed-cgi.ts). Both must read the same host settings and say the same.

import { existsSync } from 'node:fs';
import { DEFAULT_HOST_SETTINGS_FILE } from '../app/settings.js';

/** What to do when a CGI request names no .wsgi. */
export const CGI_NO_APP_FIX =
  'give the .wsgi as the argument of wsgi-cgi, run a .wsgi whose first line is #!/usr/bin/env wsgi-cgi, ' +
  'or use wsgi-cgi as an Action handler for .wsgi files.';

/** The host settings file a CGI request uses: the one named, else the default when there is one. */
export function cgiHostSettingsFile(named: string | undefined): string | null {
  return named ?? (existsSync(DEFAULT_HOST_SETTINGS_FILE) ? DEFAULT_HOST_SETTINGS_FILE : null);
}
