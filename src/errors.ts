// Every failure wsgikit reports has a stable code (callers and tests branch on `code`, never on
// message text), the HTTP status it maps to when it ends a request, and a message that tells the
// user what to do: what went wrong (`problem`) and, apart, the command or setting that mends it
// (`fix`), which wsgi-check lists on its own line. One table, one base class, as in undici and
// Node's own errors.

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

/** A problem and what mends it, before it becomes an error or a finding. */
export interface Advice {
  problem: string;
  /** The command or settings line that mends it, to paste as is; absent when there is none. */
  fix?: string | undefined;
  /** Who must apply the fix when it is not the reader ("the host"). */
  fixBy?: string | undefined;
}

export interface ErrorDetails extends Omit<Advice, 'problem'> {
  /** Shown only to the site owner: a Python traceback, the bridge's stderr tail, … */
  ownerDetail?: string;
  /** Set once the failure has been written to the app's log under this id. */
  incident?: string;
  cause?: unknown;
}

export class WsgikitError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** What went wrong; `message` is this followed by the fix. */
  readonly problem: string;
  readonly fix: string | undefined;
  readonly fixBy: string | undefined;
  ownerDetail: string | undefined;
  incident: string | undefined;

  constructor(code: ErrorCode, problem: string, details: ErrorDetails = {}) {
    super(
      withFix({ problem, fix: details.fix, fixBy: details.fixBy }),
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.name = 'WsgikitError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.problem = problem;
    this.fix = details.fix;
    this.fixBy = details.fixBy;
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

/**
 * The text a user reads: the problem, then "Fix: …" ("Fix (the host): …" when someone else must
 * apply it), after a space unless the problem ends with a line break.
 */
export function withFix(advice: Advice): string {
  const { problem, fix, fixBy } = advice;
  if (fix === undefined) return problem;
  const gap = problem === '' || /\s$/.test(problem) ? '' : ' ';
  return `${problem}${gap}Fix${fixBy === undefined ? '' : ` (${fixBy})`}: ${fix}`;
}

/** Thrown for a path outside the mount: the front end answers 404. */
export class OutsideMountError extends WsgikitError {
  constructor(path: string, mount: string) {
    super('WSGIKIT_APP_NOT_FOUND', `${path} is outside the mount ${mount}/; the app serves only paths under it.`);
  }
}

/** How an app failed to load, as the bridge reports it (src/python-bridge/PROTOCOL.md). */
export type LoadKind = 'file' | 'syntax' | 'import' | 'no-application' | 'not-callable';

/** WSGIKIT_APP_LOAD_FAILED with the bridge's KIND; message = SUMMARY, ownerDetail = TRACEBACK. */
export class AppLoadError extends WsgikitError {
  readonly loadKind: LoadKind;

  constructor(loadKind: LoadKind, summary: string, traceback: string) {
    super('WSGIKIT_APP_LOAD_FAILED', summary, { ownerDetail: traceback });
    this.name = 'AppLoadError';
    this.loadKind = loadKind;
  }
}
