// Where the app's log goes (the log_dir setting, else ~/.wsgikit/logs/<app>-<hash>.log as in
// src/logs/), whether the user the app runs as can create or append to it, and that it is not
// under the document root, where the web server would hand it to anyone. Also the CGI daemon's
// socket folder (~/.wsgikit/run), which needs the same.

import path from 'node:path';
import { sidecarPath } from '../app/settings.js';
import { defaultLogFile, isUnder } from '../logs/app-log.js';
import { folderProblem, groupName } from '../app/user-space.js';
import { mayAccess } from './identity.js';
import { realish, shellQuote, statOrNull } from './fs-util.js';
import { finding, type CheckContext, type Finding } from './types.js';

export interface LogReport {
  file: string | null;
  dir: string | null;
  writable: boolean | null;
  underDocroot: boolean | null;
}

export function logFileOf(ctx: CheckContext): string | null {
  if (ctx.real === null || ctx.settings === null) return null;
  const home = ctx.target.home;
  if (home === null && ctx.settings.logDir === null) return null;
  const fallback = defaultLogFile(ctx.real, home ?? '/');
  return ctx.settings.logDir ? path.join(ctx.settings.logDir, path.basename(fallback)) : fallback;
}

export function logChecks(ctx: CheckContext): { report: LogReport; findings: Finding[] } {
  const report: LogReport = { file: null, dir: null, writable: null, underDocroot: null };
  const out: Finding[] = [];
  if (ctx.real === null || ctx.settings === null) return { report, findings: out };
  const file = logFileOf(ctx);
  const toml = sidecarPath(ctx.real);
  if (file === null) {
    out.push(
      finding(
        'log.home-unknown',
        'info',
        `uid ${ctx.target.uid}`,
        `uid ${ctx.target.uid} has no home folder in /etc/passwd, so the default log place (~/.wsgikit/logs) is unknown.`,
        `log_dir = "/path/outside/the/docroot"   (in ${toml})`,
      ),
    );
    return { report, findings: out };
  }
  const dir = path.dirname(file);
  report.file = file;
  report.dir = dir;

  const byDefault = ctx.settings.logDir === null;
  if (ctx.docroot !== null) {
    const under = isUnder(realish(file), realish(ctx.docroot));
    report.underDocroot = under;
    if (under) {
      out.push(
        finding(
          'log.under-docroot',
          byDefault ? 'warning' : 'error',
          dir,
          `The app's log ${file} would be under the document root ${ctx.docroot}, where anyone could download it; ` +
            (byDefault
              ? "wsgikit keeps the log in the web server's error log instead."
              : 'wsgikit refuses to start the app.'),
          `log_dir = "/a/folder/outside/the/docroot"   (in ${toml})`,
        ),
      );
      if (byDefault) return { report, findings: out };
    }
  }
  const w = writableFor(ctx, dir, 'log');
  report.writable = w === null;
  if (w !== null) out.push(w);
  else {
    const st = statOrNull(dir);
    if (st !== null && (st.mode & 0o077) !== 0 && st.uid === ctx.target.uid) {
      out.push(
        finding(
          'log.readable-by-others',
          'warning',
          dir,
          `The log folder ${dir} is open to group or others (mode ${(st.mode & 0o777).toString(8)}); the log holds tracebacks.`,
          `chmod 700 ${shellQuote(dir)}`,
        ),
      );
    }
  }
  return { report, findings: out };
}

/** The daemon's socket folder, when the app uses CGI daemon mode. */
export function daemonDirChecks(ctx: CheckContext): Finding[] {
  if (ctx.settings === null || !ctx.settings.cgiDaemon || ctx.target.home === null) return [];
  if (ctx.mode === 'fcgi') return [];
  const dir = path.join(ctx.target.home, '.wsgikit', 'run');
  const problem = writableFor(ctx, dir, 'daemon');
  return problem === null ? [] : [problem];
}

/** null when uid may create `dir` (or files in it), else the finding. */
function writableFor(ctx: CheckContext, dir: string, what: 'log' | 'daemon'): Finding | null {
  const t = ctx.target;
  const owner = {
    user: t.name ?? String(t.uid),
    group: t.gid === null ? String(t.uid) : groupName(t.gid),
    home: t.home,
  };
  // Every folder on the way must be searchable too.
  const problem = folderProblem(
    dir,
    () => owner,
    (folder, st) => mayAccess(t, st, 'w') && mayAccess(t, st, 'x') && searchable(t, folder),
  );
  if (problem === null) return null;
  const { reason } = problem;
  if (what === 'log' && ctx.settings?.logDir !== null) {
    return finding(
      'log.not-writable',
      'error',
      dir,
      `The app's log folder ${dir} (log_dir) is not writable for the app: ${reason}. wsgikit refuses to start the app.`,
      problem.fix,
    );
  }
  if (what === 'log') {
    return finding(
      'log.in-server-log',
      'warning',
      dir,
      `The app's log folder ${dir} cannot be made: ${reason}. The app runs, and its log goes to the web ` +
        "server's error log until the folder exists (the owner's error pages and status page say so too).",
      problem.fix,
    );
  }
  return finding(
    'daemon.run-dir-not-writable',
    'warning',
    dir,
    `The CGI daemon's socket folder ${dir} cannot be made: ${reason}. Every request runs one-shot (slower) until it exists.`,
    problem.fix,
  );
}

/** Every folder above `folder` lets the user through. */
function searchable(t: CheckContext['target'], folder: string): boolean {
  for (let p = path.dirname(folder); ; p = path.dirname(p)) {
    const st = statOrNull(p);
    if (st !== null && !mayAccess(t, st, 'x')) return false;
    if (path.dirname(p) === p) return true;
  }
}
