// Which Python the app gets and why (src/app/python.ts decides; this reports), which version that
// is (asked of the interpreter itself, in the host's environment), and whether it is end of life:
// CPython before 3.9 is, as of 2026, and 2.7 long since. The bridge runs on 2.7 and 3.6+ (legacy
// apps still found on shared hosts), so 2.7 is a warning; 3.0–3.5 cannot run at all.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { chrootCommand, type AppChroot } from '../app/chroot.js';
import type { PythonChoice } from '../app/python.js';
import { chooseAppPython } from '../app/resolve-app.js';
import { chrootPythonFinding } from './chroot-checks.js';
import { isWsgikitError } from '../errors.js';
import { finding, findingText, type CheckContext, type Finding } from './types.js';

export interface PythonReport {
  path: string | null;
  reason: string | null;
  version: string | null;
  implementation: string | null;
}

export function pickPython(ctx: CheckContext): { choice: PythonChoice | null; findings: Finding[] } {
  if (ctx.real === null || ctx.settings === null) return { choice: null, findings: [] };
  // With the host's chroot, chosen inside it, as the pool does; a chroot that is not there has none.
  const dir = ctx.chroot === null ? null : ctx.chroot.dir;
  if (ctx.chroot !== null && dir === null) return { choice: null, findings: [] };
  try {
    return { choice: chooseAppPython(ctx.real, ctx.settings, ctx.host, dir), findings: [] };
  } catch (error) {
    if (!isWsgikitError(error)) throw error;
    const { message, fix } = findingText(error);
    return {
      choice: null,
      findings: [
        dir === null
          ? finding('python.not-found', 'error', ctx.real, message, fix)
          : chrootPythonFinding(dir, message, fix),
      ],
    };
  }
}

const PROBE =
  'import sys, platform; sys.stdout.write("%s %d.%d.%d" % ((platform.python_implementation(),) + tuple(sys.version_info[:3])))';

/**
 * The interpreter's own answer, with the host's environment; null and a finding when it cannot
 * answer. In `jail` (python a path inside it) as `user` when given, as a worker would start.
 */
export function probePython(
  python: string,
  env: Record<string, string>,
  jail: AppChroot | null = null,
  user: { uid: number; gid: number } | null = null,
): { implementation: string; version: string } | { error: string } {
  const { command, args } =
    jail === null ? { command: python, args: ['-c', PROBE] } : chrootCommand(jail, [python, '-c', PROBE]);
  try {
    const out = execFileSync(command, args, {
      ...(user === null ? {} : { uid: user.uid, gid: user.gid }),
      env,
      timeout: 15_000,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const m = /^(\S+) (\d+\.\d+\.\d+)$/.exec(out.trim());
    if (m === null) return { error: `it printed ${JSON.stringify(out.slice(0, 200))}` };
    return { implementation: m[1]!, version: m[2]! };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    const last = (e.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
    return { error: last || e.message };
  }
}

export function versionChecks(python: string, reason: string, version: string, implementation: string): Finding[] {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const named = `${implementation} ${version} (${python}, ${reason})`;
  const fix = pythonFix(reason, python);
  const legacy = major === 2 && minor === 7;
  if ((major < 3 && !legacy) || (major === 3 && minor < 6)) {
    return [
      finding(
        major < 3 ? 'python.eol' : 'python.unsupported',
        'error',
        python,
        `The app would run on ${named}, which wsgikit's bridge cannot run: it needs Python 2.7 or 3.6 or later.`,
        fix,
      ),
    ];
  }
  if (legacy) {
    return [
      finding(
        'python.eol',
        'warning',
        python,
        `The app would run on ${named}, end of life since 2020: no security fixes, and most packages have dropped it. wsgikit still serves it; move the app to Python 3 when you can.`,
        fix,
      ),
    ];
  }
  if (major === 3 && minor < 9) {
    return [
      finding(
        'python.eol',
        'warning',
        python,
        `The app would run on ${named}, which is end of life (CPython before 3.9 gets no security fixes).`,
        fix,
      ),
    ];
  }
  return [];
}

const MIB = 1024 * 1024;
/** Warn from this nursery size on: PyPy's own default where it finds no big cache is 4 MiB. */
const PYPY_NURSERY_WARN = 32 * MIB;

/**
 * The young generation PyPy gives itself on x86 Linux when PYPY_GC_NURSERY is unset
 * (rpython/memory/gc/env.py): half the smallest "cache size" in /proc/cpuinfo when that is over
 * 8 MiB, else 4 MiB. Intel CPUs report their last-level cache there, so a big server's PyPy
 * workers each let tens or hundreds of MB of garbage pile up before their first collection.
 */
export function pypyNurseryBytes(cpuinfo: string): { nursery: number; cache: number | null } {
  let cache = Infinity;
  for (const m of cpuinfo.matchAll(/^cache size\s*:\s*(\d+)\s*[kK]/gm)) cache = Math.min(cache, Number(m[1]) * 1024);
  if (cache === Infinity) return { nursery: 4 * MIB, cache: null };
  return { nursery: cache > 8 * MIB ? Math.floor(cache / 2) : 4 * MIB, cache };
}

/**
 * `python.pypy-nursery`: a PyPy app on a CPU that makes PyPy's nursery large, with no
 * PYPY_GC_NURSERY. `readCpuinfo` is called only for such an app.
 */
export function pypyChecks(
  python: string,
  implementation: string,
  env: Readonly<Record<string, string | undefined>>,
  readCpuinfo: () => string,
): Finding[] {
  if (implementation !== 'PyPy' || env.PYPY_GC_NURSERY) return [];
  const { nursery, cache } = pypyNurseryBytes(readCpuinfo());
  if (nursery < PYPY_NURSERY_WARN || cache === null) return [];
  const mb = (bytes: number) => Math.round(bytes / MIB);
  return [
    finding(
      'python.pypy-nursery',
      'warning',
      python,
      `PyPy sizes its young generation at half the ${mb(cache)} MB "cache size" this CPU reports in /proc/cpuinfo, ` +
        `so each of the app's workers can hold about ${mb(nursery)} MB of garbage before it collects any.`,
      `PYPY_GC_NURSERY = "4MB" under [env] in the app's .wsgi.toml`,
    ),
  ];
}

function pythonFix(reason: string, python: string): string {
  if (reason.startsWith('venv')) {
    const venv = path.dirname(path.dirname(python));
    return `rm -rf ${venv} && /usr/bin/python3 -m venv ${venv} (with a newer Python), then reinstall the app's packages`;
  }
  if (reason.startsWith('settings')) return 'python = "/usr/bin/python3" (a newer one) in the app\'s .wsgi.toml';
  if (reason.startsWith('shebang')) return 'change the first line of the .wsgi to a newer Python, or remove it';
  return 'python = "/path/to/python3.12" in the app\'s .wsgi.toml (or ask the host for a newer default_python)';
}
