// Which Python runs the app. Always an absolute path, never looked up in the environment's
// $PATH: under suEXEC PATH is /usr/local/bin:/usr/bin:/bin, and on a developer's machine
// `python3` on PATH may be a slow pyenv shim or another project's venv.
//
// Order, first that names one wins:
//   1. override (wsgi-run --python)
//   2. settings.python (the sidecar)
//   3. a venv beside the .wsgi: venv/bin/python, venv/bin/python3, .venv/bin/python, .venv/bin/python3
//      (kept as is, not realpath'd: a venv works only when Python starts through its own bin/)
//   4. the .wsgi's shebang, when it names a Python (`#!/usr/bin/env python3` → the safe path only)
//   5. the host's default_python
//   6. /usr/bin/python3, then /usr/local/bin/python3
// The winner must be executable; if it is not, that is an error naming the source, not a quiet
// fall-through to the next: a broken venv should be fixed, not silently bypassed.
// With `root` (the host's chroot), every path is the one seen inside that folder and is looked up
// there, symlinks resolved as the chrooted process resolves them.

import { Buffer } from 'node:buffer';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { WsgikitError } from '../errors.js';
import { resolveInChroot } from './chroot.js';

export interface PythonChoice {
  path: string;
  /** Where the choice came from, for wsgi-check and error pages. */
  reason: string;
}

/** Where name lookups happen, whatever $PATH says (suEXEC's AP_SAFE_PATH). */
export const SAFE_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

export const BUILTIN_PYTHONS = ['/usr/bin/python3', '/usr/local/bin/python3'];

const VENV_CANDIDATES = ['venv/bin/python', 'venv/bin/python3', '.venv/bin/python', '.venv/bin/python3'];

/** python, python3, python3.12, python3.13t, pypy3, pypy3.10 */
const PYTHON_NAME = /^(?:python|pypy)(?:\d+(?:\.\d+)*t?)?$/;

export function choosePython(
  appFile: string,
  settings: { python: string | null },
  host: { defaultPython: string | null },
  override?: string,
  /** The chroot folder: appFile and every Python are paths inside it. */
  root?: string,
): PythonChoice {
  const appDir = dirname(resolve(appFile));
  const inRoot = root === undefined ? '' : ` in the chroot ${root}`;
  const verified = (file: string, reason: string, fix: string) => verifiedIn(root, file, reason + inRoot, fix);

  if (override !== undefined && override !== '') {
    const resolved = resolveCommandLine(override, root);
    return verified(
      resolved,
      `--python ${override}`,
      'give an executable Python to --python, e.g. --python /usr/bin/python3',
    );
  }

  if (settings.python !== null) {
    return verified(
      settings.python,
      `settings python = ${settings.python}`,
      `set python in ${basename(appFile)}.toml to an installed Python, or remove the line`,
    );
  }

  for (const candidate of VENV_CANDIDATES) {
    const venvPython = join(appDir, candidate);
    if (lexists(root === undefined ? venvPython : resolveInChroot(root, venvPython, false))) {
      const venv = dirname(dirname(venvPython));
      return verified(
        venvPython,
        `venv beside the app: ${venvPython}`,
        `recreate the venv with a Python this host has: rm -rf ${venv} && /usr/bin/python3 -m venv ${venv}`,
      );
    }
  }

  const shebang = readShebang(root === undefined ? appFile : (resolveInChroot(root, appFile) ?? appFile));
  if (shebang !== null) {
    const named = pythonFromShebang(shebang);
    if (named !== null) {
      const name = basename(appFile);
      const fix = `change the first line of ${name} to name an installed Python, e.g. #!/usr/bin/python3`;
      if (named.lookup) {
        const found = findInSafePath(named.name, root);
        if (found === null) {
          throw notFound(
            `shebang of ${name}: ${shebang} names ${named.name}, which is not in ${SAFE_PATH.join(':')}${inRoot} (the only places searched).`,
            `${fix}.`,
          );
        }
        return verified(found, `shebang of ${name}: ${shebang} (found ${found})`, fix);
      }
      return verified(named.name, `shebang of ${name}: ${shebang}`, fix);
    }
  }

  if (host.defaultPython !== null) {
    return verified(
      host.defaultPython,
      `host default ${host.defaultPython}`,
      'ask the host to fix default_python in its settings, or set python in your sidecar file',
    );
  }

  for (const candidate of BUILTIN_PYTHONS) {
    if (isExecutable(candidate, root)) return { path: candidate, reason: `built-in default ${candidate}${inRoot}` };
  }
  throw notFound(
    `No Python found: the app names none (settings, venv/ or .venv/ beside it, shebang), the host sets no default_python, ` +
      `and neither ${BUILTIN_PYTHONS.join(' nor ')} exists${inRoot}. ${foundPythons(root)}`,
    `set python = "/path/to/python3" in ${basename(appFile)}.toml.`,
  );
}

// ---------------------------------------------------------------------------------------------

function verifiedIn(root: string | undefined, file: string, reason: string, fix: string): PythonChoice {
  if (isExecutable(file, root)) return { path: file, reason };
  let problem = 'does not exist';
  try {
    const link = root === undefined ? file : resolveInChroot(root, file, false);
    const seen = root === undefined ? file : resolveInChroot(root, file);
    if (link === null) throw new Error('missing');
    const lst = lstatSync(link);
    if (lst.isSymbolicLink() && (seen === null || !existsSync(seen))) {
      problem = `is a broken symlink (to ${readlinkSync(link)})`;
    } else if (seen !== null && statSync(seen).isDirectory()) {
      problem = 'is a folder';
    } else {
      problem = 'is not executable';
    }
  } catch {
    // does not exist
  }
  throw notFound(`${reason}: ${file} ${problem}. ${foundPythons(root)}`, `${fix}.`);
}

function isExecutable(file: string, root?: string): boolean {
  const seen = root === undefined ? file : resolveInChroot(root, file);
  if (seen === null) return false;
  try {
    accessSync(seen, constants.X_OK);
    return statSync(seen).isFile();
  } catch {
    return false;
  }
}

function lexists(file: string | null): boolean {
  if (file === null) return false;
  try {
    // Most of these are misses (the venv/ and .venv/ candidates): no error object for ENOENT.
    return lstatSync(file, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

function resolveCommandLine(value: string, root: string | undefined): string {
  if (value.includes('/')) return resolve(value);
  // A bare name: the safe path, as a shebang's env would, never $PATH.
  const found = findInSafePath(value, root);
  if (found === null) {
    throw notFound(
      `--python ${value}: not found in ${SAFE_PATH.join(':')} (the only places searched; $PATH is not used). ${foundPythons(root)}`,
      `give an absolute path, e.g. --python /usr/bin/python3.`,
    );
  }
  return found;
}

/** The first executable `name` in `dirs` (SAFE_PATH; inside `root` when given), or null. */
export function findInSafePath(name: string, root?: string, dirs: readonly string[] = SAFE_PATH): string | null {
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate, root)) return candidate;
  }
  return null;
}

/** The first line of the file if it starts with `#!`; reads at most 256 bytes. */
export function readShebang(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n < 2 || buf[0] !== 0x23 /* # */ || buf[1] !== 0x21 /* ! */) return null;
    const text = buf.subarray(0, n).toString('utf8');
    const end = text.search(/\r?\n/);
    return (end === -1 ? text : text.slice(0, end)).trimEnd();
  } finally {
    closeSync(fd);
  }
}

/** `{ name: '/usr/bin/python3.11', lookup: false }`, `{ name: 'python3', lookup: true }`, or null. */
function pythonFromShebang(line: string): { name: string; lookup: boolean } | null {
  const words = line.slice(2).trim().split(/\s+/).filter(Boolean);
  const interpreter = words[0];
  if (interpreter === undefined || !isAbsolute(interpreter)) return null;
  if (basename(interpreter) === 'env') {
    // #!/usr/bin/env python3, #!/usr/bin/env -S python3 -u: the first word that is not an option.
    const name = words.slice(1).find((w) => !w.startsWith('-') && !w.includes('='));
    if (name === undefined) return null;
    if (name.includes('/'))
      return PYTHON_NAME.test(basename(name)) && isAbsolute(name) ? { name, lookup: false } : null;
    return PYTHON_NAME.test(name) ? { name, lookup: true } : null;
  }
  return PYTHON_NAME.test(basename(interpreter)) ? { name: interpreter, lookup: false } : null;
}

/** "Found: /usr/bin/python3.11, /usr/bin/python3." — what the error path can offer instead. */
function foundPythons(root?: string): string {
  const found: string[] = [];
  const seenDirs = new Set<string>();
  for (const dir of SAFE_PATH) {
    let names: string[];
    try {
      const seen = root === undefined ? dir : resolveInChroot(root, dir);
      if (seen === null) continue;
      const real = realpathSync(seen); // /bin is often a link to /usr/bin
      if (seenDirs.has(real)) continue;
      seenDirs.add(real);
      names = readdirSync(seen);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const file = join(dir, name);
      if (PYTHON_NAME.test(name) && isExecutable(file, root) && !found.includes(file)) found.push(file);
    }
  }
  const where = `${SAFE_PATH.join(':')}${root === undefined ? '' : ` in the chroot ${root}`}`;
  return found.length === 0
    ? `No Python found in ${where}.`
    : `Found${root === undefined ? '' : ` in the chroot`}: ${found.join(', ')}.`;
}

function notFound(problem: string, fix: string): WsgikitError {
  return new WsgikitError('WSGIKIT_PYTHON_NOT_FOUND', problem, { fix });
}
