// Where the app's log goes (the log_dir setting, else ~/.wsgikit/logs/<app>-<hash>.log as in
// src/logs/), whether the user the app runs as can create or append to it, and that it is not
// under the document root, where the web server would hand it to anyone. Also the CGI daemon's
// socket folder (~/.wsgikit/run), which needs the same.

import path from 'node:path';
import { sidecarPath } from '../app/settings.js';
import { defaultLogFile, isUnder } from '../logs/app-log.js';
import { chownSpec, mayAccess } from './identity.js';
import { realish, statOrNull } from '../os/files.js';
import { shellQuote } from '../os/shell-quote.js';
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

  if (ctx.docroot !== null) {
    const under = isUnder(realish(file), realish(ctx.docroot));
    report.underDocroot = under;
    if (under) {
      out.push(
        finding(
          'log.under-docroot',
          'error',
          dir,
          `The app's log ${file} would be under the document root ${ctx.docroot}, where anyone could download it; wsgikit refuses to start the app.`,
          `log_dir = "~/.wsgikit/logs"   (in ${toml})`,
        ),
      );
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
  let cur = path.resolve(dir);
  const missing: string[] = [];
  let st = statOrNull(cur);
  while (st === null) {
    const up = path.dirname(cur);
    if (up === cur) break;
    missing.push(cur);
    cur = up;
    st = statOrNull(cur);
  }
  const ok = st !== null && st.isDirectory() && mayAccess(ctx.target, st, 'w') && mayAccess(ctx.target, st, 'x');
  // Every folder on the way must be searchable too.
  let searchable = true;
  for (let p = path.dirname(cur); st !== null; p = path.dirname(p)) {
    const pst = statOrNull(p);
    if (pst !== null && !mayAccess(ctx.target, pst, 'x')) searchable = false;
    if (path.dirname(p) === p) break;
  }
  if (ok && searchable) return null;
  const who = chownSpec(ctx.target);
  const fix =
    missing.length > 0
      ? `mkdir -p ${shellQuote(dir)} && chown ${who} ${shellQuote(dir)} && chmod 700 ${shellQuote(dir)}`
      : `chown ${who} ${shellQuote(dir)} && chmod 700 ${shellQuote(dir)}`;
  const existing = st === null ? '/' : cur;
  const reason =
    st !== null && !st.isDirectory()
      ? `${existing} is not a folder`
      : `uid ${ctx.target.uid} cannot ${missing.length > 0 ? 'create folders in' : 'write to'} ${existing}`;
  if (what === 'log') {
    return finding(
      'log.not-writable',
      'error',
      dir,
      `The app's log folder ${dir} is not writable for the app: ${reason}. The app's output and tracebacks would be lost.`,
      fix,
    );
  }
  return finding(
    'daemon.run-dir-not-writable',
    'warning',
    dir,
    `The CGI daemon's socket folder ${dir} cannot be made: ${reason}. Every request would run one-shot (slower).`,
    fix,
  );
}
