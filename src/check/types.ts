// What every check returns, and what the checks share: who the app will run as, where the web
// space is, which program the server execs, and how loudly a wrapper's rule counts.

import type { ChrootInspection } from '../app/chroot.js';
import type { Advice } from '../errors.js';
import type { AppSettings, HostSettings } from '../app/settings.js';
import type { SuexecLimits } from './suexec-config.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  /** Stable id, e.g. 'suexec.file-group-writable': scripts and tests branch on it. */
  id: string;
  severity: Severity;
  /** The path or setting the finding is about. */
  subject: string;
  /** What is wrong, plainly. */
  message: string;
  /** The exact command or settings line that fixes it, or null. */
  fix: string | null;
}

/** Which host rules to simulate. null: suEXEC and cgiwrap both, as warnings. */
export type CheckMode = 'cgi' | 'suexec' | 'cgiwrap' | 'fcgi' | null;

export interface Target {
  uid: number;
  /** null: not known (a bare uid without a password entry); group checks are skipped. */
  gid: number | null;
  /** Login name, when the password database has one. */
  name: string | null;
  home: string | null;
  /** How the target was chosen, for the report. */
  why: string;
}

/** How the server will start the app under CGI. */
export type ProgramLayout =
  | { kind: 'shebang'; program: string; shebang: string }
  | { kind: 'stub'; program: string; how: string }
  | { kind: 'none'; looked: string[] };

export interface CheckContext {
  /** The .wsgi as given, made absolute (symlinks not resolved). */
  given: string;
  /** Every symlink resolved; null when it does not exist. */
  real: string | null;
  target: Target;
  mode: CheckMode;
  /** Where the site's files are served from; null: unknown. */
  docroot: string | null;
  docrootWhy: string;
  /**
   * The folders suEXEC lets programs run in (src/check/suexec-config.ts): its document root and
   * userdir suffix, each null when that kind of request is refused, and where they come from; and
   * its compiled-in limits.
   */
  suexec: { docroot: string | null; userdirSuffix: string | null; source: string } & SuexecLimits;
  host: HostSettings;
  /** The host settings file read, or null. */
  hostFile: string | null;
  /** Where host.sendfile comes from when not from hostFile (wsgi-check --sendfile: a service's override). */
  sendfileFrom?: string;
  /** Folders the app must lie in. */
  roots: string[];
  /** null when they could not be read (a finding says why). */
  settings: AppSettings | null;
  layout: ProgramLayout;
  /** The host's chroot for this app and user (src/app/chroot.ts), or null when the host sets none. */
  chroot: ChrootInspection | null;
}

export function finding(
  id: string,
  severity: Severity,
  subject: string,
  message: string,
  fix: string | null = null,
): Finding {
  return { id, severity, subject, message, fix };
}

/** A wrapper rule counts as an error only when that wrapper is the one simulated. */
export function wrapperSeverity(mode: CheckMode, wrapper: 'suexec' | 'cgiwrap'): Severity | null {
  if (mode === null) return 'warning';
  if (mode === wrapper) return 'error';
  return null; // not this host: not checked
}

/**
 * A finding's message and fix from wsgikit's advice (a WsgikitError is one): the fix without its
 * closing full stop, so it can be pasted, and "the host: …" when the host must apply it.
 */
export function findingText(advice: Advice): { message: string; fix: string | null } {
  const fix = advice.fix?.trim().replace(/\.$/, '') ?? '';
  return {
    message: advice.problem.trim(),
    fix: fix === '' ? null : advice.fixBy === undefined ? fix : `${advice.fixBy}: ${fix}`,
  };
}
