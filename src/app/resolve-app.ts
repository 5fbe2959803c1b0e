// Everything decided about an app before a request runs, in the order the front ends need it:
// the file checks (nothing runs that the owner could not have written), its settings capped by
// the host, its Python, and where its log goes. One function, so wsgi-run, CGI and FastCGI can
// never disagree on any of it.

import process from 'node:process';
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { WsgikitError } from '../errors.js';
import { AppLog, defaultLogFile, isUnder, type AppLogOptions } from '../logs/app-log.js';
import { planChroot, toInside, type AppChroot } from './chroot.js';
import { checkAppFile, homeOf, type CheckedApp } from './locate.js';
import { choosePython, type PythonChoice } from './python.js';
import { offloadPolicy, type OffloadPolicy } from './sendfile-settings.js';
import { loadAppSettings, trustedOwnersFor, type AppSettings, type HostSettings } from './settings.js';
import { folderProblem, processOwner, serverLogNote, type FolderProblem } from './user-space.js';

export interface ResolveOptions {
  host: HostSettings;
  /** Command-line settings (wsgi-run --processes …), capped by the host like the sidecar's. */
  overrides?: Partial<AppSettings>;
  pythonOverride?: string;
  /** Folders the app must lie in; default: the host's allowed_roots, else the owner's home. */
  allowedRoots?: string[];
  /** When known (CGI, FastCGI), the log must not land under it. */
  documentRoot?: string;
  /**
   * wsgi-run only: report a refusal (a group-writable file, say) instead of stopping, so a
   * developer can still debug; a host always refuses.
   */
  onRefused?: (error: WsgikitError) => void;
}

export interface ResolvedApp {
  checked: CheckedApp;
  /** The roots it was accepted under: the files it names (X-Sendfile) must lie in them too. */
  roots: string[];
  settings: AppSettings;
  /** With the host's chroot: a path inside it. */
  python: PythonChoice;
  /**
   * The log file. With `logProblem` set it is where the log will be once its folder can be made;
   * meanwhile the log is kept in the server's error log (openAppLog).
   */
  logFile: string;
  /** Why the default log folder cannot be used now, or null. */
  logProblem: FolderProblem | null;
  /** What the owner should be told on error and status pages (the log's place, with its fix). */
  ownerNotes: string[];
  /** The host's chroot for this app's workers (src/app/chroot.ts), or null. */
  chroot: AppChroot | null;
}

export function resolveApp(appFile: string, options: ResolveOptions): ResolvedApp {
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  const roots = options.allowedRoots ?? defaultRoots(options.host);
  const checked = checkedOrReported(appFile, roots, trustedOwnersFor(options.host, uid), options.onRefused);
  const settings = loadAppSettings(checked.file, options.host, options.overrides);
  const chroot =
    options.host.chroot === null ? null : planChroot(options.host.chroot, checked.file, uid, options.host.source);
  const python = chooseAppPython(checked.file, settings, options.host, chroot?.dir ?? null, options.pythonOverride);
  const home = homeOf(uid);
  const fallback = defaultLogFile(checked.file, home);
  const logFile = settings.logDir ? join(settings.logDir, basename(fallback)) : fallback;
  let logProblem: FolderProblem | null = null;
  if (options.documentRoot && isUnder(logFile, options.documentRoot)) {
    const fix = `set log_dir in ${basename(checked.file)}.toml to a folder outside it, e.g. ~/.wsgikit/logs`;
    if (settings.logDir !== null) {
      throw new WsgikitError(
        'WSGIKIT_SETTINGS_INVALID',
        `The app's log ${logFile} would be under the document root ${options.documentRoot}, where anyone could ` +
          `download it.`,
        { fix: `${fix}.` },
      );
    }
    const reason = `it is under the document root ${options.documentRoot}, where anyone could download the log`;
    logProblem = { folder: dirname(logFile), reason, fix };
  } else if (settings.logDir === null) {
    // The default place may not exist yet and not be ours to make (www-data's home belongs to
    // root): the app is served anyway, its log in the server's error log. A log_dir the owner
    // chose is theirs to get right: opening it fails loudly (WSGIKIT_LOG_UNWRITABLE).
    logProblem = folderProblem(dirname(logFile), () => ({ ...processOwner(), home }));
  }
  const ownerNotes = logProblem === null ? [] : [serverLogNote(logProblem)];
  return { checked, roots, settings, python, logFile, logProblem, ownerNotes, chroot };
}

/**
 * The app's log as resolved: its file, or (with `logProblem`) the server's error log, which then
 * says first why and how to fix it. Throws WSGIKIT_LOG_UNWRITABLE for a log_dir that cannot be
 * written.
 */
export function openAppLog(resolved: ResolvedApp, extra: Pick<AppLogOptions, 'echo' | 'onError'> = {}): AppLog {
  const options: AppLogOptions = {
    file: resolved.logFile,
    maxBytes: resolved.settings.logMaxBytes,
    keep: resolved.settings.logKeep,
    ...extra,
  };
  if (resolved.logProblem === null) return AppLog.open(options);
  const log = AppLog.toServerLog(options, resolved.checked.file);
  log.write('wsgikit', serverLogNote(resolved.logProblem));
  return log;
}

/**
 * The app's Python (src/app/python.ts); with the host's chroot, among the paths inside `chrootDir`
 * (`appFile` is the real path outside, and the choice is a path inside).
 */
export function chooseAppPython(
  appFile: string,
  settings: { python: string | null },
  host: HostSettings,
  chrootDir: string | null,
  override?: string,
): PythonChoice {
  if (chrootDir === null) return choosePython(appFile, settings, host, override);
  return choosePython(
    toInside(chrootDir, appFile),
    { python: settings.python === null ? null : toInside(chrootDir, settings.python) },
    host,
    override,
    chrootDir,
  );
}

/** Which files the app may have sent, and by whom: the host's sendfile mode, or `mode` instead. */
export function appOffloadPolicy(resolved: ResolvedApp, host: HostSettings, mode = host.sendfile): OffloadPolicy {
  return offloadPolicy(mode, host.sendfileMap, resolved.roots);
}

/** Where apps may live when the caller names no folders: the host's allowed_roots, else the owner's home. */
export function defaultRoots(host: HostSettings): string[] {
  return host.allowedRoots.length > 0 ? host.allowedRoots : [homeOf(process.getuid?.() ?? -1)];
}

function checkedOrReported(
  appFile: string,
  roots: string[],
  trustedOwners: ReadonlySet<number>,
  onRefused: ((error: WsgikitError) => void) | undefined,
): CheckedApp {
  try {
    return checkAppFile(appFile, { allowedRoots: roots, trustedOwners });
  } catch (error) {
    if (!onRefused || !(error instanceof WsgikitError) || error.code !== 'WSGIKIT_APP_REFUSED') throw error;
    onRefused(error);
    const file = realpathSync(appFile);
    const st = statSync(file);
    return { file, dir: dirname(file), uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
  }
}

/** The app's os.environ: what the front end was given, plus the settings' `env` table. */
export function appEnvironment(base: NodeJS.ProcessEnv, settings: AppSettings): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) if (value !== undefined) env[key] = value;
  return Object.assign(env, settings.env);
}
