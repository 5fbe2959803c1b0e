// Compiles the native CGI launcher (src/cgi/launcher/wsgi-cgi.c). Used by the build (dist/wsgi-cgi)
// and by the tests (the same flags, plus AddressSanitizer and UndefinedBehaviorSanitizer).
import { execFileSync } from 'node:child_process';
import { realpathSync, renameSync } from 'node:fs';
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

// `node scripts/launcher-build.mjs`: (re)builds dist/wsgi-cgi as the native launcher in an
// installed package, where the full build (tsc, esbuild) is not at hand: after installing a C
// compiler on a host that had none when wsgikit was installed. Swapped in with a rename, so a
// request meanwhile runs the old wsgi-cgi or the new one.
if (process.argv[1] && new URL(import.meta.url).pathname === realpathSync(process.argv[1])) {
  const cc = findCompiler();
  if (cc === null) {
    console.error('launcher-build: no C compiler ($CC, cc, gcc, clang) runs here; wsgi-cgi stays the Node entry');
    process.exit(1);
  }
  const dist = join(root, 'dist');
  const temp = join(dist, `wsgi-cgi.building-${process.pid}`);
  compileLauncher({ cc, out: temp, entry: join(dist, 'wsgi-cgi.cjs') });
  renameSync(temp, join(dist, 'wsgi-cgi'));
  console.log(`launcher-build: ${join(dist, 'wsgi-cgi')} is the native launcher (built with ${cc})`);
}
