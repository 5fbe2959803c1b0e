// The host's file offload (docs/file-offload.md): which mode is in effect and, for that mode, what
// would make the files an app names fail. With x-accel-redirect, a file under no [sendfile_map]
// prefix is refused, so the app's folder must lie under one. With x-sendfile, the web server opens
// the file as its own user, who must be able to reach it: every folder down to the app's must be
// searchable by others (wsgikit checks the app's user; only the web server knows its own).

import path from 'node:path';
import { sendfileMappingFor } from '../pool/file-offload.js';
import { findRoot } from '../app/locate.js';
import { foldersDown, octal, statOrNull } from '../os/files.js';
import { shellQuote } from '../os/shell-quote.js';
import { finding, type CheckContext, type Finding } from './types.js';

export function sendfileChecks(ctx: CheckContext): Finding[] {
  if (ctx.real === null) return [];
  const mode = ctx.host.sendfile;
  const dir = path.dirname(ctx.real);
  const hostFile = ctx.hostFile ?? 'the host settings';
  const where = ctx.sendfileFrom ?? hostFile;
  if (mode === 'x-accel-redirect') {
    const mapping = sendfileMappingFor(`${dir}/`, ctx.host.sendfileMap);
    if (mapping !== undefined) return [];
    const prefix = `${findRoot(dir, ctx.roots) ?? dir}/`;
    const mapped = ctx.host.sendfileMap.map((m) => m.from).join(', ') || 'none';
    return [
      finding(
        'sendfile.not-mapped',
        'warning',
        dir,
        `sendfile = "x-accel-redirect" in ${where}, but the app's folder ${dir} is under no [sendfile_map] prefix (${mapped}): ` +
          'every file the app names there (X-Sendfile, wsgi.file_wrapper) would be refused with a 403.',
        `"${prefix}" = "/_wsgikit_files${prefix}"   (in [sendfile_map] of ${hostFile}), and in nginx: ` +
          `location /_wsgikit_files${prefix} { internal; alias ${prefix}; }`,
      ),
    ];
  }
  if (mode !== 'x-sendfile') return [];
  const out: Finding[] = [];
  const closed = foldersDown('/', dir).filter((folder) => {
    const st = statOrNull(folder);
    return st !== null && (st.mode & 0o001) === 0;
  });
  const st = statOrNull(dir);
  const shown = st === null ? '' : ` (mode ${octal(st.mode)})`;
  const readable = st !== null && (st.mode & 0o005) === 0o005;
  if (closed.length > 0) {
    out.push(
      finding(
        'sendfile.folder-closed',
        'warning',
        closed[0]!,
        `sendfile = "x-sendfile" in ${where}: the web server opens the files the app names as its own user, but ` +
          `others may not search ${closed.join(', ')}, so it cannot reach files in ${dir} unless it is their owner or in their group.`,
        `chmod o+x ${closed.map(shellQuote).join(' ')}   (or give the web server's group access: chgrp www-data FOLDER && chmod g+x FOLDER)`,
      ),
    );
  }
  out.push(
    finding(
      'sendfile.web-server-reads',
      'info',
      dir,
      `sendfile = "x-sendfile" in ${where}: the web server, not the app, reads the files the app names, so its user ` +
        `must be able to read them (mode 644 for a file, o+x on every folder above). The app's folder ${dir}${shown} ` +
        (readable ? 'is readable by others.' : 'is NOT readable by others.'),
      null,
    ),
  );
  return out;
}

/** The mode in effect, for the report's Found section. */
export function sendfileSummary(ctx: CheckContext): string {
  const who = {
    none: 'wsgikit itself sends the files the app names',
    'x-sendfile': 'the web server sends the files the app names (Apache mod_xsendfile, lighttpd)',
    'x-accel-redirect': 'nginx sends the files the app names, through [sendfile_map]',
  }[ctx.host.sendfile];
  return ctx.sendfileFrom === undefined
    ? `sendfile = "${ctx.host.sendfile}": ${who} (wsgi-fcgi --sendfile overrides it for one service; check with --sendfile MODE)`
    : `sendfile = "${ctx.host.sendfile}" (${ctx.sendfileFrom}, which overrides the host settings): ${who}`;
}
