// Every failure wsgikit reports has a stable code (callers and tests branch on `code`, never on
// message text), the HTTP status it maps to when it ends a request, and a message that tells the
// user what to do. One table, one base class, as in undici and Node's own errors.

export const ERRORS = {
  WSGIKIT_USAGE: { status: 500, title: 'Usage error' },
  WSGIKIT_APP_NOT_FOUND: { status: 404, title: 'Application not found' },
  WSGIKIT_APP_REFUSED: { status: 403, title: 'Application refused' },
  WSGIKIT_SENDFILE_REFUSED: { status: 403, title: 'File refused' },
  WSGIKIT_SETTINGS_INVALID: { status: 500, title: 'Invalid settings' },
  WSGIKIT_PYTHON_NOT_FOUND: { status: 500, title: 'Python not found' },
  WSGIKIT_APP_LOAD_FAILED: { status: 500, title: 'Application failed to load' },
  WSGIKIT_APP_EXCEPTION: { status: 500, title: 'Application error' },
  WSGIKIT_BAD_RESPONSE: { status: 500, title: 'Invalid response from application' },
  WSGIKIT_WORKER_CRASHED: { status: 502, title: 'Application process ended' },
  WSGIKIT_WORKER_START_FAILED: { status: 502, title: 'Application process could not start' },
  WSGIKIT_REQUEST_TIMEOUT: { status: 504, title: 'Request timed out' },
  WSGIKIT_OVERLOADED: { status: 503, title: 'Too many requests' },
  WSGIKIT_SHUTTING_DOWN: { status: 503, title: 'Service restarting' },
  WSGIKIT_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  WSGIKIT_BAD_REQUEST: { status: 400, title: 'Bad request' },
  WSGIKIT_PROTOCOL: { status: 502, title: 'Protocol error' },
  WSGIKIT_LOG_UNWRITABLE: { status: 500, title: 'Log folder not writable' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorDetails {
  /** Shown only to the site owner: a Python traceback, the bridge's stderr tail, … */
  ownerDetail?: string;
  /** Set once the failure has been written to the app's log under this id. */
  incident?: string;
  cause?: unknown;
}

export class WsgikitError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  ownerDetail: string | undefined;
  incident: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'WsgikitError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.ownerDetail = details.ownerDetail;
    this.incident = details.incident;
  }

  get title(): string {
    return ERRORS[this.code].title;
  }
}

export function isWsgikitError(value: unknown): value is WsgikitError {
  return value instanceof WsgikitError;
}
