// wsgi-check's whole run: work out who the app runs as, where the web space is and which program
// the server execs, then every family of checks, then the import. Returns the findings and what
// was found fine; report.ts prints it.

import process from 'node:process';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_HOST_SETTINGS_FILE, emptyHostSettings, loadAppSettings, loadHostSettings } from '../app/settings.js';
import type { AppSettings, HostSettings } from '../app/settings.js';
import { isWsgikitError } from '../errors.js';
import { appFileChecks } from './app-checks.js';
import { cgiwrapChecks } from './cgiwrap-checks.js';
import { chrootChecks, chrootFor } from './chroot-checks.js';
import { realOrNull, statOrNull } from '../os/files.js';
import { resolveTarget } from './identity.js';
import { hostEnvironment, importApp, type ImportReport } from './import-check.js';
import { detectLayout, guessDocroot } from './layout.js';
import { limitsChecks } from './limits-checks.js';
import { daemonDirChecks, logChecks, type LogReport } from './log-checks.js';
import { pickPython, probePython, pypyChecks, versionChecks, type PythonReport } from './python-checks.js';
import { sendfileModeProblem, type SendfileMode } from '../app/sendfile-settings.js';
import { sendfileChecks, sendfileSummary } from './sendfile-checks.js';
import { suexecChecks } from './suexec-checks.js';
import { cgiEntryChecks } from './cgi-entry-checks.js';
import { DEBIAN_LIMITS, PRISTINE_DOC_ROOT, PRISTINE_USERDIR_SUFFIX, readSuexecConfig } from './suexec-config.js';
import { finding, findingText, type CheckContext, type CheckMode, type Finding, type Target } from './types.js';

export interface CheckOptions {
  app: string;
  hostSettings?: string;
  mode: CheckMode;
  docroot?: string;
  /** suEXEC's document root, in place of the one the active suEXEC uses. */
  suexecDocroot?: string;
  /** The suEXEC Apache runs (default /usr/lib/apache2/suexec, through its alternative). */
  suexecBin?: string;
  /** apache2-suexec-custom's config file (default /etc/apache2/suexec/APACHE_USER). */
  suexecConfig?: string;
  /** The user Apache runs as: the custom suEXEC reads its file (default www-data). */
  apacheUser?: string;
  asUser?: string;
  stub?: string;
  /** false: skip the import (and the version it reports). */
  importApp?: boolean;
  /** The service's `wsgi-fcgi --sendfile`, which overrides host.toml's sendfile. */
  sendfile?: SendfileMode;
}

export interface CheckResult {
  ok: boolean;
  app: string;
  findings: Finding[];
  target: Target;
  mode: CheckMode;
  docroot: { path: string | null; why: string };
  program: CheckContext['layout'];
  hostSettings: string | null;
  settings: { source: string | null; cgiDaemon: boolean; maxBodyBytes: number; mount: string | null } | null;
  python: PythonReport;
  import: ImportReport | null;
  log: LogReport;
  /** The host's chroot for this app: the folder the pattern gives, its real path, and whether a worker could start in it. */
  chroot: { pattern: string; folder: string | null; dir: string | null; ok: boolean } | null;
  /** Who sends the files the app names (host.toml sendfile). */
  sendfile: { mode: string; summary: string };
  /** The context, for --explain and --start. */
  context: CheckContext;
  pythonPath: string | null;
}

const FAMILY_ORDER = [
  'app',
  'settings',
  'chroot',
  'python',
  'import',
  'suexec',
  'shebang',
  'stub',
  'cgiwrap',
  'log',
  'daemon',
  'limits',
  'sendfile',
  'docroot',
];

export function buildContext(options: CheckOptions): { ctx: CheckContext; findings: Finding[] } {
  const findings: Finding[] = [];
  const given = path.resolve(options.app);
  const real = realOrNull(given);
  const st = real === null ? null : statOrNull(real);
  const target = resolveTarget(options.asUser, st === null ? null : { uid: st.uid, gid: st.gid });

  let hostFile: string | null =
    options.hostSettings ?? (fs.existsSync(DEFAULT_HOST_SETTINGS_FILE) ? DEFAULT_HOST_SETTINGS_FILE : null);
  let host: HostSettings = emptyHostSettings();
  if (hostFile !== null) {
    try {
      host = loadHostSettings(hostFile);
    } catch (error) {
      if (!isWsgikitError(error)) throw error;
      const { message, fix } = findingText(error);
      findings.push(finding('settings.host-invalid', 'error', hostFile, message, fix));
      hostFile = null;
    }
  }
  let sendfileFrom: string | undefined;
  if (options.sendfile !== undefined) {
    const problem = sendfileModeProblem(options.sendfile, host.sendfileMap);
    if (problem === null) {
      host = { ...host, sendfile: options.sendfile };
      sendfileFrom = "wsgi-fcgi's --sendfile";
    } else {
      // The service would refuse to start with this override; say so, and check the host's own mode.
      const { message, fix } = findingText({
        ...problem,
        problem: `wsgi-fcgi --sendfile ${options.sendfile} would refuse to start: ${problem.problem}`,
      });
      findings.push(finding('sendfile.override-invalid', 'error', hostFile ?? 'host settings', message, fix));
    }
  }
  const roots = host.allowedRoots.length > 0 ? host.allowedRoots : target.home === null ? [] : [target.home];

  const docroot = options.docroot !== undefined ? path.resolve(options.docroot) : guessDocroot(real ?? given);
  const docrootWhy =
    options.docroot !== undefined
      ? '--docroot'
      : docroot === null
        ? 'none found: no folder named public_html, www, htdocs or html above the app'
        : 'guessed: the nearest folder above the app named public_html, www, htdocs or html';

  let settings: AppSettings | null = null;
  if (real !== null && st?.isFile()) {
    try {
      settings = asTarget(target, () => loadAppSettings(real, host, {}, target.uid));
      for (const w of settings.warnings)
        findings.push(finding('settings.capped', 'warning', settings.source ?? real, w));
    } catch (error) {
      const { message, fix } = findingText(
        isWsgikitError(error) ? error : { problem: String((error as Error).message) },
      );
      findings.push(finding('settings.invalid', 'error', `${real}.toml`, message, fix));
    }
  }

  const ctx: CheckContext = {
    given,
    real: st?.isFile() ? real : null,
    target,
    mode: options.mode,
    docroot,
    docrootWhy,
    suexec: suexecFolders(options),
    host,
    hostFile,
    ...(sendfileFrom === undefined ? {} : { sendfileFrom }),
    roots,
    settings,
    layout:
      real !== null && st?.isFile() ? detectLayout(real, docroot, target, options.stub) : { kind: 'none', looked: [] },
    // As the target, as the pool (which runs as the user) would look.
    chroot: real !== null && st?.isFile() ? asTarget(target, () => chrootFor(host, real, target)) : null,
  };
  if (roots.length === 0) {
    findings.push(
      finding(
        'app.no-roots',
        'warning',
        `uid ${target.uid}`,
        `uid ${target.uid} has no home folder and the host settings name no allowed_roots, so wsgikit would refuse every app.`,
        'allowed_roots = ["/home"]   (in the host settings)',
      ),
    );
  }
  return { ctx, findings };
}

export async function runCheck(options: CheckOptions): Promise<CheckResult> {
  const { ctx, findings } = buildContext(options);
  // Not found / not a file: reported by the app checks; the rest needs a file.
  const appFindings = appFileChecks({ ...ctx, real: ctx.real === null ? realOrNull(ctx.given) : ctx.real });
  findings.push(...appFindings);

  const python: PythonReport = { path: null, reason: null, version: null, implementation: null };
  let imported: ImportReport | null = null;
  let log: LogReport = { file: null, dir: null, writable: null, underDocroot: null };

  if (ctx.real !== null) {
    findings.push(...suexecChecks(ctx), ...cgiwrapChecks(ctx), ...cgiEntryChecks(ctx));
    if (ctx.layout.kind === 'none' && (ctx.mode === null || ctx.mode === 'suexec' || ctx.mode === 'cgiwrap')) {
      findings.push(
        finding(
          'suexec.no-program',
          'info',
          ctx.real,
          `No CGI program to check: ${path.basename(ctx.real)} does not start with #!/usr/local/bin/wsgi-cgi, and no entry stub was found` +
            (ctx.layout.looked.length > 0 ? ` (looked at ${ctx.layout.looked.join(', ')})` : '') +
            '. Under an Action handler, suEXEC and cgiwrap check the stub: name it with --stub.',
          `suexec/install-stub.sh --check ${ctx.target.name ?? 'USER'} DIR`,
        ),
      );
    }
    if (ctx.docroot === null) {
      findings.push(
        finding(
          'docroot.unknown',
          'info',
          ctx.real,
          'The document root is unknown, so the log was not checked against it.',
          '--docroot DIR',
        ),
      );
    }

    findings.push(...chrootChecks(ctx.chroot));
    const picked = pickPython(ctx);
    findings.push(...picked.findings);
    // With the host's chroot, the import and the probe run in it, as a worker starts; a chroot the
    // host would refuse runs nothing (its problems above say why).
    const jail = ctx.chroot?.plan ?? null;
    const runnable = ctx.chroot === null || jail !== null;
    if (ctx.chroot !== null && jail === null && options.importApp !== false) {
      findings.push(
        finding(
          'import.not-run',
          'info',
          ctx.real,
          'The app was not imported: the host refuses to start its workers until the chroot problems above are fixed, ' +
            'and an import outside the chroot would not tell whether it loads inside. Run wsgi-check again once they are.',
        ),
      );
    }
    if (picked.choice !== null && ctx.settings !== null && runnable) {
      python.path = picked.choice.path;
      python.reason = picked.choice.reason;
      const env = hostEnvironment(ctx.settings.env, ctx.suexec.safePath);
      if (options.importApp !== false) {
        const result = await importApp(
          ctx.real,
          picked.choice.path,
          env,
          ctx.settings.startupTimeout,
          asUser(ctx.target),
          jail,
        );
        imported = result.report;
        findings.push(...result.findings);
        if (result.report.ok) {
          python.version = result.report.version;
          python.implementation = result.report.implementation;
          findings.push(...speedChecks(ctx, result.report.ms ?? 0));
        }
      }
      if (python.version === null && imported?.kind !== 'start-failed') {
        const probe =
          jail === null
            ? asTarget(ctx.target, () => probePython(picked.choice!.path, env))
            : probePython(picked.choice.path, env, jail, asUser(ctx.target));
        if ('error' in probe) {
          findings.push(
            finding(
              'python.broken',
              'error',
              picked.choice.path,
              `${picked.choice.path} (${picked.choice.reason}) does not run: ${probe.error}`,
              `${picked.choice.path} -c pass   (run it by hand to see why)`,
            ),
          );
        } else {
          python.version = probe.version;
          python.implementation = probe.implementation;
        }
      }
      if (python.version !== null) {
        findings.push(
          ...versionChecks(picked.choice.path, picked.choice.reason, python.version, python.implementation ?? 'Python'),
        );
      }
      // In a chroot PyPy sees the chroot's /proc, if any: no guess is made for it.
      if (python.implementation !== null && jail === null && process.arch === 'x64') {
        findings.push(...pypyChecks(picked.choice.path, python.implementation, env, cpuinfo));
      }
    }

    const logs = logChecks(ctx);
    log = logs.report;
    findings.push(...logs.findings, ...daemonDirChecks(ctx), ...limitsChecks(ctx), ...sendfileChecks(ctx));
  }

  const sorted = sortFindings(findings);
  return {
    ok: !sorted.some((f) => f.severity === 'error'),
    app: ctx.given,
    findings: sorted,
    target: ctx.target,
    mode: ctx.mode,
    docroot: { path: ctx.docroot, why: ctx.docrootWhy },
    program: ctx.layout,
    hostSettings: ctx.hostFile,
    settings:
      ctx.settings === null
        ? null
        : {
            source: ctx.settings.source,
            cgiDaemon: ctx.settings.cgiDaemon,
            maxBodyBytes: ctx.settings.maxBodyBytes,
            mount: ctx.settings.mount,
          },
    python,
    import: imported,
    log,
    chroot:
      ctx.host.chroot === null
        ? null
        : {
            pattern: ctx.host.chroot,
            folder: ctx.chroot?.given ?? null,
            dir: ctx.chroot?.dir ?? null,
            ok: ctx.chroot?.plan != null,
          },
    sendfile: { mode: ctx.host.sendfile, summary: sendfileSummary(ctx) },
    context: ctx,
    pythonPath: python.path,
  };
}

function speedChecks(ctx: CheckContext, ms: number): Finding[] {
  const s = ctx.settings!;
  const out: Finding[] = [];
  if (ms > (s.startupTimeout * 1000) / 2) {
    out.push(
      finding(
        'import.slow',
        'warning',
        ctx.real!,
        `Importing the app took ${Math.round(ms)} ms, more than half of startup_timeout (${s.startupTimeout} s): a busy host may time it out.`,
        `startup_timeout = ${Math.ceil((ms / 1000) * 3)}   (in ${path.basename(ctx.real!)}.toml)`,
      ),
    );
  }
  if (!s.cgiDaemon && ctx.mode !== 'fcgi' && ms > 1000) {
    out.push(
      finding(
        'import.slow-oneshot',
        'warning',
        ctx.real!,
        `With cgi_daemon = false every CGI request imports the app again: ${Math.round(ms)} ms each.`,
        `cgi_daemon = true   (in ${path.basename(ctx.real!)}.toml, if the host allows background processes)`,
      ),
    );
  }
  return out;
}

export function sortFindings(findings: Finding[]): Finding[] {
  const rank = { error: 0, warning: 1, info: 2 } as const;
  const family = (id: string) => {
    const i = FAMILY_ORDER.indexOf(id.split('.')[0] ?? '');
    return i === -1 ? FAMILY_ORDER.length : i;
  };
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => family(a.f.id) - family(b.f.id) || rank[a.f.severity] - rank[b.f.severity] || a.i - b.i)
    .map(({ f }) => f);
}

/** The target's ids for processes started on its behalf, when wsgi-check runs as root for another user. */
function asUser(target: Target): { uid: number; gid: number } | null {
  if (process.geteuid?.() !== 0 || target.uid === 0) return null;
  return { uid: target.uid, gid: target.gid ?? 65534 }; // no group known: nogroup, never root's
}

/**
 * Runs `fn` with the effective uid and gid of the target when wsgi-check runs as root, so reading
 * the settings and starting Python see the permissions the host will. Otherwise runs it as is.
 */
export function asTarget<T>(target: Target, fn: () => T): T {
  const euid = process.geteuid?.();
  if (euid !== 0 || target.uid === 0 || !process.seteuid || !process.setegid) return fn();
  const egid = process.getegid!();
  if (target.gid !== null) process.setegid(target.gid);
  process.seteuid(target.uid);
  try {
    return fn();
  } finally {
    process.seteuid(0);
    process.setegid(egid);
  }
}

/** /proc/cpuinfo, or "" where there is none (then PyPy finds no cache size either). */
function cpuinfo(): string {
  try {
    return fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/** suEXEC's folders: the active suEXEC's (or the one named), with --suexec-docroot over its docroot. */
function suexecFolders(options: CheckOptions): CheckContext['suexec'] {
  const found = readSuexecConfig({
    ...(options.suexecBin === undefined ? {} : { binary: options.suexecBin }),
    ...(options.suexecConfig === undefined ? {} : { config: options.suexecConfig }),
    ...(options.apacheUser === undefined ? {} : { apacheUser: options.apacheUser }),
  });
  const base =
    found === null
      ? {
          ...DEBIAN_LIMITS,
          docroot: PRISTINE_DOC_ROOT,
          userdirSuffix: PRISTINE_USERDIR_SUFFIX,
          source: "no suEXEC found: Debian's values",
        }
      : {
          uidMin: found.uidMin,
          gidMin: found.gidMin,
          safePath: found.safePath,
          limitsSource: found.limitsSource,
          docroot: found.docroot,
          userdirSuffix: found.userdirSuffix,
          source: found.kind === 'custom' ? `apache2-suexec-custom, ${found.source}` : found.source,
        };
  if (options.suexecDocroot === undefined) return base;
  return { ...base, docroot: path.resolve(options.suexecDocroot), source: `${base.source}; --suexec-docroot` };
}
