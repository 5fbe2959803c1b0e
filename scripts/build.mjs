// Compiles src/ to dist/ with tsc, copies the Python bridge beside its TypeScript side, and
// bundles the CGI entry into one CommonJS file: it starts once per request, and loading one file
// instead of a graph of ES modules is most of its start-up (reference: fastcgi-and-node.md §3b).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { compileLauncher, findCompiler } from './launcher-build.mjs';

const root = new URL('..', import.meta.url).pathname;
// Built beside dist/ (one folder per build, so two builds at once cannot mix) and swapped in at
// the end, so a running server or test never sees dist/ half-built or missing.
const dist = join(root, `dist.building-${process.pid}`);
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', dist],
  { stdio: 'inherit' },
);
for (const file of readdirSync(join(root, 'src/python-bridge'))) {
  if (file.endsWith('.py')) cpSync(join(root, 'src/python-bridge', file), join(dist, 'python-bridge', file));
}
// The bridge's compiled code, in dist/python-bridge/__pycache__/ for the Pythons at hand, so that a
// bridge started as a user who cannot write to dist/ does not compile wsgi_bridge.py at every
// start. Other Python versions compile it on their first start if they may write there, else at
// every start as before; without a Python here, nothing is cached.
for (const python of new Set(['/usr/bin/python3', 'python3'])) {
  try {
    execFileSync(python, ['-m', 'compileall', '-q', join(dist, 'python-bridge')], { stdio: 'ignore' });
  } catch {
    // not installed here
  }
}

// At the top of dist/, beside install-paths.js, so the paths it resolves hold in the bundle too.
// dist/wsgi-cgi.cjs is only the entry that runs the bundle through V8's code cache
// (src/cli/wsgi-cgi-entry.ts); the bundle, dist/wsgi-cgi-main.cjs, is the program.
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  define: { 'import.meta.url': 'importMetaUrl' },
  inject: [join(root, 'scripts/import-meta-url.cjs')],
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: [join(root, 'src/cli/wsgi-cgi.ts')],
  outfile: join(dist, 'wsgi-cgi-main.cjs'),
  // pino is loaded only by the long-running front ends; never by a CGI request.
  external: ['pino'],
});
await build({ ...common, entryPoints: [join(root, 'src/cli/wsgi-cgi-entry.ts')], outfile: join(dist, 'wsgi-cgi.cjs') });
// The entry reads an ASCII bundle as latin1, which V8 takes as it is; UTF-8 costs a decoding pass
// and, with a single non-ASCII character, a two-byte copy of the whole source. esbuild already
// escapes non-ASCII characters in code, so the rest are in comments: \uXXXX spells them out there,
// and would mean the same character anywhere else (string, template, regular expression, name).
const mainBundle = join(dist, 'wsgi-cgi-main.cjs');
writeFileSync(
  mainBundle,
  readFileSync(mainBundle, 'utf8').replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  ),
);

// dist/wsgi-cgi, the `wsgi-cgi` command: the native launcher when a C compiler is at hand (it hands
// every request it cannot relay to dist/wsgi-cgi.cjs), else the Node entry itself.
// WSGIKIT_LAUNCHER=off builds without it; =require fails the build when it cannot be compiled.
// A package being packed or published gets the Node entry: a binary built here may not run on the
// host that installs it (which builds its own with scripts/launcher-build.mjs).
const packing = process.env.npm_command === 'pack' || process.env.npm_command === 'publish';
const launcherWanted = process.env.WSGIKIT_LAUNCHER ?? (packing ? 'off' : 'auto');
const cc = launcherWanted === 'off' ? null : findCompiler();
let launcher = false;
if (cc !== null) {
  try {
    compileLauncher({ cc, out: join(dist, 'wsgi-cgi'), entry: join(root, 'dist', 'wsgi-cgi.cjs') });
    launcher = true;
  } catch (error) {
    if (launcherWanted === 'require') throw error;
    console.warn(`wsgikit: the native CGI launcher did not compile with ${cc}; wsgi-cgi is the Node entry`);
  }
} else if (launcherWanted === 'require') {
  throw new Error('WSGIKIT_LAUNCHER=require, and no C compiler ($CC, cc, gcc, clang) runs here');
}
if (!launcher) cpSync(join(dist, 'wsgi-cgi.cjs'), join(dist, 'wsgi-cgi'));

const executables = [join(dist, 'wsgi-cgi.cjs'), join(dist, 'wsgi-cgi')];
const cli = join(dist, 'cli');
if (existsSync(cli)) for (const file of readdirSync(cli)) if (file.endsWith('.js')) executables.push(join(cli, file));
for (const file of executables) chmodSync(file, 0o755);

const live = join(root, 'dist');
const old = join(root, `dist.old-${process.pid}`);
rmSync(old, { recursive: true, force: true });
if (existsSync(live)) renameSync(live, old);
renameSync(dist, live);
rmSync(old, { recursive: true, force: true });
