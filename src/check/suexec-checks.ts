// Apache suEXEC's checks (support/suexec.c; the table in suexec/README.md), in suexec.c's order, on the
// program the server execs (the entry stub of an Action handler, or a .wsgi whose shebang names
// wsgi-cgi) and its folder, for the user the host runs it as. suEXEC never says why it refused
// (the visitor gets a 500, the reason goes to a root-only log), so this is the only place the
// user learns it. The wording follows suexec/install-stub.sh --check.

import process from 'node:process';
import fs from 'node:fs';
import path from 'node:path';
import { findInSafePath } from '../app/python.js';
import { sidecarPath } from '../app/settings.js';
import { groupName } from '../os/users.js';
import { chownSpec } from './identity.js';
import { readShebang } from '../app/python.js';
import { shebangInterpreter } from './layout.js';
import { isInside, lstatOrNull, realOrNull, statOrNull, writableBy, writerWords } from '../os/files.js';
import { shellQuote } from '../os/shell-quote.js';
import { setBits } from './app-checks.js';
import type { SuexecLimits } from './suexec-config.js';
import { finding, wrapperSeverity, type CheckContext, type Finding, type Severity } from './types.js';

/** What suEXEC keeps of the environment besides HTTP_* (not HTTP_PROXY) and SSL_* (suexec.c safe_env_lst). */
export const SUEXEC_SAFE_ENV: ReadonlySet<string> = new Set(
  (
    'AUTH_TYPE CONTENT_LENGTH CONTENT_TYPE CONTEXT_DOCUMENT_ROOT CONTEXT_PREFIX DATE_GMT DATE_LOCAL DOCUMENT_ARGS ' +
    'DOCUMENT_NAME DOCUMENT_PATH_INFO DOCUMENT_ROOT DOCUMENT_URI GATEWAY_INTERFACE HTTPS LAST_MODIFIED PATH_INFO ' +
    'PATH_TRANSLATED QUERY_STRING QUERY_STRING_UNESCAPED REMOTE_ADDR REMOTE_HOST REMOTE_IDENT REMOTE_PORT ' +
    'REMOTE_USER REDIRECT_ERROR_NOTES REDIRECT_HANDLER REDIRECT_QUERY_STRING REDIRECT_REMOTE_USER ' +
    'REDIRECT_SCRIPT_FILENAME REDIRECT_STATUS REDIRECT_URL REQUEST_METHOD REQUEST_SCHEME REQUEST_URI ' +
    'SCRIPT_FILENAME SCRIPT_NAME SCRIPT_URI SCRIPT_URL SERVER_ADDR SERVER_ADMIN SERVER_NAME SERVER_PORT ' +
    'SERVER_PROTOCOL SERVER_SIGNATURE SERVER_SOFTWARE UNIQUE_ID USER_NAME TZ'
  ).split(' '),
);

export function suexecKeeps(name: string): boolean {
  return SUEXEC_SAFE_ENV.has(name) || (name.startsWith('HTTP_') && name !== 'HTTP_PROXY') || name.startsWith('SSL_');
}

export function suexecChecks(ctx: CheckContext): Finding[] {
  const sev = wrapperSeverity(ctx.mode, 'suexec');
  // mod_fcgid starts the app with its own environment (FcgidInitialEnv): SetEnv misses it too.
  if (sev === null) return ctx.mode === 'fcgi' ? droppedEnv(ctx, 'warning') : [];
  const out: Finding[] = [];
  const t = ctx.target;
  const code = (n: string) => ` (suexec.c: exit ${n})`;
  const { uidMin, gidMin, limitsSource } = ctx.suexec;

  // check 4 [107/108]: the target user and group.
  if (t.uid === 0 || t.uid < uidMin) {
    out.push(
      finding(
        'suexec.uid-min',
        sev,
        `uid ${t.uid}`,
        `suEXEC refuses to run programs as uid ${t.uid}: it must not be 0 and at least AP_UID_MIN ${uidMin} (${limitsSource})${code('107')}.`,
        'serve the site as an ordinary user (--as-user USER checks for that user)',
      ),
    );
  }
  if (t.gid !== null && (t.gid === 0 || t.gid < gidMin)) {
    out.push(
      finding(
        'suexec.gid-min',
        sev,
        `gid ${t.gid}`,
        `suEXEC refuses gid ${t.gid} (${groupName(t.gid)}): it must not be 0 and at least AP_GID_MIN ${gidMin} (${limitsSource})${code('108')}.`,
        `give the user a primary group with gid >= ${gidMin}`,
      ),
    );
  }

  const layout = ctx.layout;
  if (layout.kind === 'none') {
    out.push(...droppedEnv(ctx, sev));
    return out;
  }
  const program = layout.program;
  const cwd = path.dirname(program);
  const stubNote = layout.kind === 'stub' ? ' (or reinstall the stub: suexec/install-stub.sh USER DIR, as root)' : '';

  // check 6 [111-114]: the cwd lies under the document root (requests of a SuexecUserGroup host) or
  // ~user/USERDIR_SUFFIX (userdir requests), compared as real paths. Both come from the suEXEC
  // Apache runs: compiled into the pristine one, read from a file by apache2-suexec-custom, whose
  // Debian default suffix is public_html/cgi-bin (src/check/suexec-config.ts).
  const realCwd = realOrNull(cwd);
  if (realCwd !== null) {
    const { docroot, userdirSuffix, source } = ctx.suexec;
    const userdir = userdirSuffix === null ? null : path.join(t.home ?? '~USER', userdirSuffix);
    const allowed = [docroot, t.home === null ? null : userdir].filter((a): a is string => a !== null);
    const realAllowed = allowed.map((a) => realOrNull(a) ?? a);
    if (!realAllowed.some((a) => isInside(realCwd, a))) {
      const places = [
        docroot === null ? 'no document root (turned off)' : `the document root ${docroot}`,
        userdir === null ? 'no userdir (turned off)' : `the userdir ${userdir}`,
      ];
      const into = userdir !== null && t.home !== null ? userdir : docroot;
      out.push(
        finding(
          'suexec.outside-docroot',
          sev,
          cwd,
          `${cwd}${realCwd !== cwd ? ` (really ${realCwd})` : ''} is under neither ${places.join(' nor ')} that suEXEC ` +
            `allows (${source}); suEXEC compares the real path after chdir and answers 500, logging ` +
            `"command not in docroot"${code('111-114')}.`,
          into === null
            ? 'the suEXEC in use refuses both kinds of request: turn one on in its configuration'
            : `move ${path.basename(program)} under ${into} (a symlinked folder that resolves elsewhere fails too)`,
        ),
      );
    }
  }

  // check 7 [115/116]: the cwd is a folder not writable by group or others.
  const dst = statOrNull(cwd);
  if (dst !== null) {
    const who = writableBy(dst);
    if (who !== null) {
      out.push(
        finding(
          `suexec.dir-${who}-writable`,
          sev,
          cwd,
          `${cwd} is writable by ${writerWords(dst)}: suEXEC refuses to run anything in it${code('116')}.`,
          `chmod go-w ${shellQuote(cwd)}`,
        ),
      );
    }
  }

  // check 8 [117-119]: the program exists, is no symlink, not group/other-writable, not setuid/setgid.
  const lst = lstatOrNull(program);
  if (lst === null) {
    out.push(
      finding(
        'suexec.program-missing',
        sev,
        program,
        `${program} does not exist${code('117')}.`,
        'suexec/install-stub.sh USER DIR (as root)',
      ),
    );
    return [...out, ...droppedEnv(ctx, sev)];
  }
  if (lst.isSymbolicLink()) {
    const real = realOrNull(program);
    out.push(
      finding(
        'suexec.symlink',
        sev,
        program,
        `${program} is a symlink${real ? ` (to ${real})` : ''}: suEXEC refuses symlinks${code('117')}.`,
        real ? `cp --remove-destination ${shellQuote(real)} ${shellQuote(program)}` : `rm ${shellQuote(program)}`,
      ),
    );
  } else {
    const who = writableBy(lst);
    if (who !== null) {
      out.push(
        finding(
          `suexec.file-${who}-writable`,
          sev,
          program,
          `${program} is writable by ${writerWords(lst)}: suEXEC refuses it${code('118')}.`,
          `chmod go-w ${shellQuote(program)}${stubNote}`,
        ),
      );
    }
    if ((lst.mode & 0o6000) !== 0) {
      out.push(
        finding(
          'suexec.setuid',
          sev,
          program,
          `${program} has the ${setBits(lst.mode)} bit set: suEXEC refuses it${code('119')}.`,
          `chmod ug-s ${shellQuote(program)}`,
        ),
      );
    }
  }

  // check 9 [120]: the folder and the program are owned by the target uid AND gid.
  for (const [p, st] of [
    [cwd, dst],
    [program, lst],
  ] as const) {
    if (st === null) continue;
    const uidOk = st.uid === t.uid;
    const gidOk = t.gid === null || st.gid === t.gid;
    if (uidOk && gidOk) continue;
    out.push(
      finding(
        'suexec.owner',
        sev,
        p,
        `${p} is owned by ${st.uid}:${st.gid}, not by ${t.uid}${t.gid === null ? '' : `:${t.gid}`} (${chownSpec(t)}); ` +
          `suEXEC needs the folder and the program owned by the user AND the group it runs as${code('120')}.`,
        `chown ${lst.isSymbolicLink() && p === program ? '-h ' : ''}${chownSpec(t)} ${shellQuote(p)}`,
      ),
    );
  }

  // check 10 [121]: the owner may execute it.
  if (!lst.isSymbolicLink() && (lst.mode & 0o100) === 0) {
    out.push(
      finding(
        'suexec.not-executable',
        sev,
        program,
        `${program} is not executable by its owner: suEXEC refuses it (Apache shows only "Premature end of script headers")${code('121')}.`,
        `chmod u+x ${shellQuote(program)}`,
      ),
    );
  }

  // checks 12-13: PATH becomes AP_SAFE_PATH, then execv: the kernel runs the shebang.
  out.push(...interpreterChecks(program, sev, 0, ctx.suexec));
  out.push(...droppedEnv(ctx, sev));
  return out;
}

/**
 * The program's shebang under AP_SAFE_PATH: an absolute interpreter must exist and be executable
 * (anywhere: the kernel cannot run it otherwise); `env NAME` finds NAME only in AP_SAFE_PATH. One
 * level deeper for what it finds (wsgi-cgi is `#!/usr/bin/env node`), and for a stub's `exec PATH`.
 */
function interpreterChecks(program: string, sev: Severity, depth: number, limits: SuexecLimits): Finding[] {
  const { safePath, limitsSource } = limits;
  const out: Finding[] = [];
  const shebang = readShebang(program);
  if (shebang === null) {
    if (depth === 0) out.push(...stubTarget(program, sev, depth, limits));
    return out;
  }
  const interp = shebangInterpreter(shebang);
  if (interp === null) return out;
  if (!isExecutableFile(interp.path)) {
    out.push(
      finding(
        'shebang.interpreter-missing',
        'error',
        program,
        `The first line of ${program}, ${shebang}, names ${interp.path}, which ${fs.existsSync(interp.path) ? 'is not executable' : 'does not exist'}.`,
        `change the first line to an interpreter this host has, e.g. #!/usr/local/bin/wsgi-cgi`,
      ),
    );
    return out;
  }
  if (interp.lookup === null) {
    if (depth === 0 && ['sh', 'bash', 'dash'].includes(path.basename(interp.path)))
      out.push(...stubTarget(program, sev, depth, limits));
    else if (depth === 0) out.push(...interpreterChecks(interp.path, sev, depth + 1, limits));
    return out;
  }
  const found = findInSafePath(interp.lookup, undefined, safePath);
  if (found === null) {
    const id = interp.lookup === 'node' ? 'suexec.node-not-on-safe-path' : 'suexec.shebang-not-on-safe-path';
    const fix =
      interp.lookup === 'node'
        ? 'install Node 20+ as /usr/bin/node, or ln -s "$(command -v node)" /usr/local/bin/node (as root)'
        : `name the interpreter by its absolute path on the first line (e.g. #!/usr/local/bin/${interp.lookup}), or ln -s "$(command -v ${interp.lookup})" /usr/local/bin/${interp.lookup} (as root)`;
    out.push(
      finding(
        id,
        sev,
        program,
        `${program} starts with ${shebang}, but ${interp.lookup} is not in ${safePath.join(':')}, the only PATH suEXEC leaves (AP_SAFE_PATH, ${limitsSource}).`,
        fix,
      ),
    );
    return out;
  }
  if (depth === 0) out.push(...interpreterChecks(found, sev, depth + 1, limits));
  return out;
}

/** A shell stub's `exec /path/to/wsgi-cgi "$@"`: that program must be there. */
function stubTarget(program: string, sev: Severity, depth: number, limits: SuexecLimits): Finding[] {
  let text: string;
  try {
    text = fs.readFileSync(program, 'utf8').slice(0, 4096);
  } catch {
    return [];
  }
  const m = /^\s*exec\s+("?)(\/[^\s"]+)\1/m.exec(text);
  if (m === null) return [];
  const target = m[2]!;
  if (!isExecutableFile(target)) {
    return [
      finding(
        'stub.target-missing',
        'error',
        program,
        `${program} runs ${target}, which ${fs.existsSync(target) ? 'is not executable' : 'does not exist'}: every request would fail.`,
        `ln -s /usr/lib/node_modules/wsgikit/dist/wsgi-cgi ${target} (as root; see suexec/README.md, step 1)`,
      ),
    ];
  }
  return interpreterChecks(target, sev, depth + 1, limits);
}

function isExecutableFile(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// check 12: the environment is cleaned. SetEnv / PassEnv in a .htaccess do not reach the app.

interface EnvLine {
  name: string;
  value: string | null;
  file: string;
  line: number;
}

/** `SetEnv NAME value` and `PassEnv NAME…` lines in .htaccess files from the app's folder up to the docroot. */
export function htaccessEnv(appDir: string, stopAt: string | null): EnvLine[] {
  const found: EnvLine[] = [];
  let dir = appDir;
  for (let depth = 0; depth < 32; depth++) {
    const file = path.join(dir, '.htaccess');
    let text: string | null = null;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      // none here
    }
    if (text !== null) {
      text.split(/\r?\n/).forEach((raw, i) => {
        const line = raw.trim();
        const set = /^SetEnv\s+(\S+)(?:\s+(.*))?$/i.exec(line);
        if (set) {
          found.push({ name: set[1]!, value: unquote(set[2] ?? ''), file, line: i + 1 });
          return;
        }
        const pass = /^PassEnv\s+(.+)$/i.exec(line);
        if (pass) for (const name of pass[1]!.split(/\s+/)) found.push({ name, value: null, file, line: i + 1 });
      });
    }
    if (stopAt !== null && dir === stopAt) break;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return found;
}

function unquote(v: string): string {
  const t = v.trim();
  return /^".*"$/.test(t) ? t.slice(1, -1) : t;
}

function droppedEnv(ctx: CheckContext, sev: Severity): Finding[] {
  if (ctx.real === null) return [];
  const envSet = ctx.settings?.env ?? {};
  const toml = path.basename(sidecarPath(ctx.real));
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const e of htaccessEnv(path.dirname(ctx.real), ctx.docroot)) {
    if (seen.has(e.name) || suexecKeeps(e.name) || e.name in envSet) continue;
    seen.add(e.name);
    const value = e.value ?? process.env[e.name] ?? 'VALUE';
    out.push(
      finding(
        'suexec.env-dropped',
        sev,
        `${e.file}:${e.line}`,
        `${e.name} is set by ${e.value === null ? 'PassEnv' : 'SetEnv'} in ${e.file}:${e.line}, but suEXEC drops it (and HOME) ` +
          `before the app starts; mod_fcgid does not pass it either. Move it to the [env] table of ${toml}.`,
        `[env] ${e.name} = ${JSON.stringify(value)}   (in ${sidecarPath(ctx.real)})`,
      ),
    );
  }
  return out;
}
