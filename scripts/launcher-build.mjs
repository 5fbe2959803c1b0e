// Compiles the native CGI launcher (src/cgi/launcher/wsgi-cgi.c). Used by the build (dist/wsgi-cgi)
// and by the tests (the same flags, plus AddressSanitizer and UndefinedBehaviorSanitizer).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
export const LAUNCHER_SOURCE = join(root, 'src/cgi/launcher/wsgi-cgi.c');

/** Warnings are errors: the launcher is small enough to keep at none. */
export const LAUNCHER_FLAGS = [
  '-std=c11',
  '-O2',
  '-Wall',
  '-Wextra',
  '-Wshadow',
  '-Wconversion',
  '-Wno-sign-conversion',
  '-Werror',
  '-D_FORTIFY_SOURCE=2',
  '-fstack-protector-strong',
];

export const SANITIZER_FLAGS = [
  '-O1',
  '-g',
  '-fno-omit-frame-pointer',
  '-fsanitize=address,undefined',
  '-fno-sanitize-recover=all',
];

/** The first C compiler that runs: $CC, else cc, gcc, clang; null when there is none. */
export function findCompiler() {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (!cc) continue;
    try {
      execFileSync(cc, ['--version'], { stdio: 'ignore' });
      return cc;
    } catch {
      // not this one
    }
  }
  return null;
}

/**
 * Compiles the launcher to `out`. `entry` is where the Node entry will be (the launcher prefers
 * the wsgi-cgi.cjs beside its own real path, and uses this one when it cannot read that).
 */
export function compileLauncher({ cc, out, entry, node = process.execPath, extraFlags = [] }) {
  execFileSync(
    cc,
    [
      ...LAUNCHER_FLAGS,
      ...extraFlags,
      `-DWSGIKIT_NODE="${node}"`,
      `-DWSGIKIT_ENTRY="${entry}"`,
      '-o',
      out,
      LAUNCHER_SOURCE,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
}
