// The host's choice of who sends a file an app names (host.toml `sendfile`, `[sendfile_map]`,
// `wsgi-fcgi --sendfile`), checked here so the host file and the command line say the same thing
// about the same mistake. What is done with it per request is src/pool/file-offload.ts.

import process from 'node:process';
import type { Advice } from '../errors.js';
import { userGroups } from '../os/users.js';

export const SENDFILE_MODES = ['none', 'x-sendfile', 'x-accel-redirect'] as const;
export type SendfileMode = (typeof SENDFILE_MODES)[number];

/** A filesystem prefix and the nginx internal URI prefix that serves it. Both end with "/". */
export interface SendfileMapping {
  from: string;
  to: string;
}

export function isSendfileMode(value: unknown): value is SendfileMode {
  return typeof value === 'string' && (SENDFILE_MODES as readonly string[]).includes(value);
}

/** Why one `[sendfile_map]` entry is unusable, with the fix; null when it is fine. */
export function sendfileMappingProblem(from: string, to: unknown): Advice | null {
  // A prefix without its trailing slash would also match /home2 for /home: the slash is required.
  if (!from.startsWith('/') || !from.endsWith('/') || hasDotDot(from)) {
    const parts = from.split('/').filter((part) => part !== '' && part !== '.' && part !== '..');
    const fixed = parts.length === 0 ? '/' : `/${parts.join('/')}/`;
    return {
      problem: `a filesystem prefix must be an absolute folder ending with "/" and without "..", got ${JSON.stringify(from)}.`,
      fix: `"${fixed}" = "/_wsgikit_files/"`,
    };
  }
  if (typeof to !== 'string' || !to.startsWith('/') || !to.endsWith('/') || hasDotDot(to) || /[?#%\s]/.test(to)) {
    return {
      problem: `the internal location for ${from} must be a URI path that starts and ends with "/" (no "..", "?", "#", "%" or spaces), got ${JSON.stringify(to)}.`,
      fix: `"${from}" = "/_wsgikit_files/", and an nginx "location /_wsgikit_files/ { internal; alias ${from}; }"`,
    };
  }
  return null;
}

/** Why a mode cannot work with this map, with the fix; null when it can. */
export function sendfileModeProblem(mode: SendfileMode, map: readonly SendfileMapping[]): Advice | null {
  if (mode === 'x-accel-redirect' && map.length === 0) {
    return {
      problem: 'sendfile = "x-accel-redirect" needs [sendfile_map]: nginx serves files by internal URI, not by path.',
      fix: 'add [sendfile_map] with "/home/" = "/_wsgikit_files/" and the matching internal location in nginx (docs/file-offload.md)',
    };
  }
  return null;
}

function hasDotDot(p: string): boolean {
  return p.split('/').includes('..');
}

export interface OffloadPolicy {
  mode: SendfileMode;
  /** Longest `from` first (as loadHostSettings leaves it). */
  map: readonly SendfileMapping[];
  /** The roots the app was accepted under. Empty: no file may be sent. */
  roots: readonly string[];
  /** The uid the app's workers run as, and its groups. */
  uid: number;
  groups: ReadonlySet<number>;
}

/** A policy for the uid this process runs as (the workers' uid: wsgikit starts them as itself). */
export function offloadPolicy(
  mode: SendfileMode,
  map: readonly SendfileMapping[],
  roots: readonly string[],
  uid: number = process.getuid?.() ?? -1,
): OffloadPolicy {
  return { mode, map, roots, uid, groups: userGroups(uid) };
}

/** What a pool without a policy does: no file is ever sent. */
export const NO_FILES: OffloadPolicy = { mode: 'none', map: [], roots: [], uid: -1, groups: new Set() };
