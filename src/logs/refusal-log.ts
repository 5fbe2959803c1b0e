// Why an app was not run (refused, not loadable settings, no Python), written where its owner
// looks: the app's default log. Only for a .wsgi that exists: a stranger asking for made-up
// paths must not be able to create a log file per path.

import { existsSync } from 'node:fs';
import { AppLog } from './app-log.js';
import { defaultLogFile } from './log-file-path.js';

/**
 * The incident id written to the owner's default log, or null when there was none to write to.
 * `home` is asked for only when needed, and may throw (a uid with no home): this never does.
 */
export function logRefusal(appFile: string, home: () => string, message: string): string | null {
  if (!existsSync(appFile)) return null;
  try {
    const log = AppLog.open({ file: defaultLogFile(appFile, home()), maxBytes: 10 * 1024 * 1024, keep: 3 });
    const incident = log.incident(message);
    log.close();
    return incident;
  } catch {
    return null; // no log of the owner's to write to: the caller's server log still has it
  }
}
