// wsgikit's own rules for the .wsgi and its settings sidecar (src/app/locate.ts): a regular file
// inside an allowed root once symlinks are resolved, nothing on the way writable by group or
// others, owned by the user (or root, or an owner the host trusts for it), no setuid/setgid. wsgi-cgi and wsgi-fcgi refuse an app that
// breaks one, whatever the server, so these are errors in every mode. Unlike locate.ts, which
// stops at the first problem, this reports them all, then asks locate.ts itself so the two can
// never disagree.

import path from 'node:path';
import { checkAppFile, foreignOwnerWords } from '../app/locate.js';
import { sidecarPath, trustedOwnersFor } from '../app/settings.js';
import { isWsgikitError } from '../errors.js';
import {
  foldersDown,
  isInside,
  lstatOrNull,
  realOrNull,
  shellQuote,
  statOrNull,
  writableBy,
  writerWords,
} from './fs-util.js';
import { finding, splitFix, type CheckContext, type Finding } from './types.js';

/** The checks on the file itself; ctx.real is null when it does not exist (reported here). */
export function appFileChecks(ctx: CheckContext): Finding[] {
  const out: Finding[] = [];
  const { given, real } = ctx;
  const lst = lstatOrNull(given);
  if (real === null) {
    const dangling = lst?.isSymbolicLink() === true;
    out.push(
      finding(
        'app.not-found',
        'error',
        given,
        dangling ? `${given} is a symlink to something that does not exist.` : `${given} does not exist.`,
        dangling ? `rm ${shellQuote(given)} and put the .wsgi file itself there` : 'check the path',
      ),
    );
    return out;
  }
  const st = statOrNull(real)!;
  if (!st.isFile()) {
    out.push(
      finding('app.not-regular-file', 'error', given, `${given} is not a regular file.`, 'name the .wsgi file itself'),
    );
    return out;
  }

  const root = ctx.roots.map((r) => realOrNull(r)).find((r): r is string => r !== null && isInside(real, r)) ?? null;
  if (lst?.isSymbolicLink() === true || given !== real) {
    if (root === null) {
      out.push(
        finding(
          'app.outside-roots',
          'error',
          given,
          `${given} is a symlink to ${real}, outside every allowed root (${ctx.roots.join(', ') || 'none'}); wsgikit refuses it.`,
          `cp --remove-destination ${shellQuote(real)} ${shellQuote(given)}`,
        ),
      );
    } else {
      out.push(
        finding(
          'app.symlink',
          'warning',
          given,
          `${given} is reached through a symlink (it is ${real}). wsgikit follows it within the allowed roots, but ` +
            'suEXEC and cgiwrap refuse a symlinked program, and a link is easy to repoint.',
          `cp --remove-destination ${shellQuote(real)} ${shellQuote(given)}`,
        ),
      );
    }
  } else if (root === null) {
    out.push(
      finding(
        'app.outside-roots',
        'error',
        given,
        `${real} is outside every allowed root (${ctx.roots.join(', ') || 'none'}); wsgikit refuses it.`,
        ctx.hostFile === null
          ? `move it under ${ctx.roots[0] ?? 'your home folder'}`
          : `move it into an allowed root, or ask the host to add its folder to allowed_roots in ${ctx.hostFile}`,
      ),
    );
  }

  if (root !== null) {
    for (const folder of foldersDown(root, path.dirname(real))) {
      const fst = statOrNull(folder);
      if (fst === null) continue;
      out.push(...writable('app.dir', folder, fst, 'folder'));
      out.push(...owner('app.dir-owner', folder, fst, ctx));
    }
  }
  out.push(...writable('app.file', real, st, 'file'));
  if ((st.mode & 0o6000) !== 0) {
    out.push(
      finding(
        'app.setuid',
        'error',
        real,
        `${real} has the ${setBits(st.mode)} bit set; wsgikit refuses it.`,
        `chmod ug-s ${shellQuote(real)}`,
      ),
    );
  }
  out.push(...owner('app.owner', real, st, ctx));

  const sidecar = sidecarPath(real);
  const sst = lstatOrNull(sidecar);
  if (sst !== null && sst.isFile()) {
    out.push(...writable('app.sidecar', sidecar, sst, 'settings file'));
    out.push(...owner('app.sidecar-owner', sidecar, sst, ctx));
  }

  // The front ends' own verdict, for the target user: a refusal none of the above explains.
  if (!out.some((f) => f.severity === 'error')) {
    try {
      checkAppFile(given, {
        allowedRoots: ctx.roots,
        expectedUid: ctx.target.uid,
        trustedOwners: trustedOwnersFor(ctx.host, ctx.target.uid),
      });
    } catch (error) {
      if (!isWsgikitError(error)) throw error;
      const { message, fix } = splitFix(error.message);
      out.push(finding('app.refused', 'error', given, message, fix));
    }
  }
  return out;
}

function writable(prefix: string, p: string, st: import('node:fs').Stats, kind: string): Finding[] {
  const who = writableBy(st);
  if (who === null) return [];
  const why = kind === 'folder' ? ', so they could replace the app' : '';
  return [
    finding(
      `${prefix}-${who}-writable`,
      'error',
      p,
      `The ${kind} ${p} is writable by ${writerWords(st)}${why}; wsgikit refuses to run it.`,
      `chmod go-w ${shellQuote(p)}`,
    ),
  ];
}

function owner(id: string, p: string, st: import('node:fs').Stats, ctx: CheckContext): Finding[] {
  if (st.uid === ctx.target.uid || st.uid === 0) return [];
  if (trustedOwnersFor(ctx.host, ctx.target.uid).has(st.uid)) return [];
  const kind = st.isDirectory() ? 'folder' : 'file';
  const { message, fix } = foreignOwnerWords(p, kind, st.uid, ctx.target.uid);
  return [finding(id, 'error', p, `${message}.`, fix)];
}

export function setBits(mode: number): string {
  return [mode & 0o4000 ? 'setuid' : '', mode & 0o2000 ? 'setgid' : ''].filter(Boolean).join(' and ');
}
