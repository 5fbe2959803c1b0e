// cgiwrap's checks (cgiwrap.c CheckScriptFile and the script location; docs/cgiwrap.md) on
// the program the server execs: under ~user/public_html/cgi-bin, a regular file (no symlink),
// owned by the user and its group, not group/world-writable, no setuid/setgid, executable.

import path from 'node:path';
import { chownSpec } from './identity.js';
import { isInside, lstatOrNull, realOrNull, writableBy, writerWords } from '../os/files.js';
import { shellQuote } from '../os/shell-quote.js';
import { setBits } from './app-checks.js';
import { finding, wrapperSeverity, type CheckContext, type Finding } from './types.js';

export function cgiwrapChecks(ctx: CheckContext): Finding[] {
  const sev = wrapperSeverity(ctx.mode, 'cgiwrap');
  if (sev === null || ctx.layout.kind === 'none') return [];
  const out: Finding[] = [];
  const program = ctx.layout.program;
  const t = ctx.target;

  const cgiDir = t.home === null ? null : path.join(t.home, 'public_html', 'cgi-bin');
  const real = realOrNull(program) ?? program;
  if (cgiDir === null || !isInside(real, realOrNull(cgiDir) ?? cgiDir)) {
    const where = cgiDir ?? '~USER/public_html/cgi-bin';
    out.push(
      finding(
        'cgiwrap.not-in-cgi-bin',
        sev,
        program,
        `${program} is not under ${where}; cgiwrap runs only scripts there (/cgi-bin/cgiwrap/USER/SCRIPT)` +
          (ctx.layout.kind === 'shebang' ? '.' : ', and folders below it only when built --with-script-subdirs.'),
        ctx.layout.kind === 'stub'
          ? `suexec/install-stub.sh ${t.name ?? 'USER'} (as root: installs the stub into ${where})`
          : `use an Action handler with the stub in ${where} instead (suexec/install-stub.sh ${t.name ?? 'USER'})`,
      ),
    );
  }

  const lst = lstatOrNull(program);
  if (lst === null) return out;
  if (lst.isSymbolicLink()) {
    out.push(
      finding(
        'cgiwrap.symlink',
        sev,
        program,
        `${program} is a symlink; cgiwrap built --with-check-symlink refuses it.`,
        `cp --remove-destination ${shellQuote(real)} ${shellQuote(program)}`,
      ),
    );
    return out;
  }
  if (lst.uid !== t.uid || (t.gid !== null && lst.gid !== t.gid)) {
    out.push(
      finding(
        'cgiwrap.owner',
        sev,
        program,
        `${program} is owned by ${lst.uid}:${lst.gid}; cgiwrap (--with-check-owner, --with-check-group) wants ${chownSpec(t)}.`,
        `chown ${chownSpec(t)} ${shellQuote(program)}`,
      ),
    );
  }
  const who = writableBy(lst);
  if (who !== null) {
    out.push(
      finding(
        `cgiwrap.file-${who}-writable`,
        sev,
        program,
        `${program} is writable by ${writerWords(lst)}; cgiwrap refuses it (--with-check-${who}-writable).`,
        `chmod go-w ${shellQuote(program)}`,
      ),
    );
  }
  if ((lst.mode & 0o6000) !== 0) {
    out.push(
      finding(
        'cgiwrap.setuid',
        sev,
        program,
        `${program} has the ${setBits(lst.mode)} bit set; cgiwrap refuses it.`,
        `chmod ug-s ${shellQuote(program)}`,
      ),
    );
  }
  if ((lst.mode & 0o100) === 0) {
    out.push(
      finding(
        'cgiwrap.not-executable',
        sev,
        program,
        `${program} is not executable; cgiwrap runs only executable scripts.`,
        `chmod u+x ${shellQuote(program)}`,
      ),
    );
  }
  if (ctx.mode === 'cgiwrap') {
    out.push(
      finding(
        'cgiwrap.stderr',
        'info',
        program,
        "cgiwrap sends stderr into the response by default; wsgikit sends the app's stdout and stderr to its log, so " +
          'this only matters for output before wsgi-cgi starts (a missing node prints there).',
      ),
    );
  }
  return out;
}
