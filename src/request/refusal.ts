// A request wsgikit refuses (no .wsgi, one that cannot be checked or resolved, a malformed
// request) is answered with the plain page and an incident id. The reason goes under that id to
// the default log of the app's owner, when the .wsgi is known and exists, and the front end writes
// it to the server's error log: the visitor passes the id on, the owner or the host finds it.

import process from 'node:process';
import { homeOf } from '../app/locate.js';
import { isWsgikitError, WsgikitError } from '../errors.js';
import { newIncidentId } from '../logs/app-log.js';
import { logRefusal } from '../logs/refusal-log.js';

/**
 * The refusal `error` stands for, with its incident: written to the owner's log of `appFile`
 * when there is one, else a new id for the server's log alone. A failure that has its incident
 * already (decideRequest recorded it, knowing the .wsgi) is returned as it is.
 */
export function refusal(error: unknown, appFile: string | null): WsgikitError {
  const failure = isWsgikitError(error) ? error : new WsgikitError('WSGIKIT_BAD_REQUEST', String(error));
  if (failure.incident !== undefined) return failure;
  failure.incident = (appFile !== null && logRefusal(appFile, ownHome, failure.message)) || newIncidentId();
  return failure;
}

function ownHome(): string {
  return homeOf(process.getuid?.() ?? -1);
}
