// What a visitor is told, by error code: one plain sentence with no detail of how the site is
// built, because a visitor cannot act on that and an attacker could.

import type { ErrorCode } from '../errors.js';

const SENTENCES: Record<ErrorCode, string> = {
  WSGIKIT_USAGE: 'The server behind this page is not set up correctly.',
  WSGIKIT_APP_NOT_FOUND: 'There is no application at this address.',
  WSGIKIT_APP_REFUSED: 'The server refused to run the application behind this page.',
  WSGIKIT_SENDFILE_REFUSED: 'The server refused to send the file the application behind this page named.',
  WSGIKIT_SETTINGS_INVALID: 'The application behind this page could not be started.',
  WSGIKIT_PYTHON_NOT_FOUND: 'The application behind this page could not be started.',
  WSGIKIT_APP_LOAD_FAILED: 'The application behind this page could not be started.',
  WSGIKIT_APP_EXCEPTION: 'The application behind this page failed.',
  WSGIKIT_BAD_RESPONSE: 'The application behind this page sent an answer the server could not use.',
  WSGIKIT_WORKER_CRASHED: 'The application behind this page stopped before it answered.',
  WSGIKIT_WORKER_START_FAILED: 'The application behind this page could not be started.',
  WSGIKIT_REQUEST_TIMEOUT: 'The application behind this page took too long to answer.',
  WSGIKIT_OVERLOADED: 'The site is busy right now. Please try again in a few seconds.',
  WSGIKIT_SHUTTING_DOWN: 'The site is restarting. Please try again in a few seconds.',
  WSGIKIT_BODY_TOO_LARGE: 'The data sent with this request is larger than this site accepts.',
  WSGIKIT_BAD_REQUEST: 'The server could not understand this request.',
  WSGIKIT_PROTOCOL: 'The server and the application behind this page could not understand each other.',
  WSGIKIT_LOG_UNWRITABLE: 'The application behind this page could not be started.',
};

export function visitorSentence(code: ErrorCode, maxBodyBytes?: number): string {
  if (code === 'WSGIKIT_BODY_TOO_LARGE' && maxBodyBytes !== undefined) {
    return `This site accepts at most ${formatBytes(maxBodyBytes)} of data with one request, and this request sent more.`;
  }
  return SENTENCES[code];
}

export const INCIDENT_SENTENCE = 'The site owner can look this up with the incident id below.';

/** `10 MiB`, `1.5 KiB`, `300 bytes`: the form a person checks a file size against. */
export function formatBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  let value = bytes;
  let unit = '';
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${Number(value.toFixed(1))} ${unit}`;
}
