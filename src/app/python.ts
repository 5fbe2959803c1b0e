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
): PythonChoice {
  const appDir = dirname(resolve(appFile));

  if (override !== undefined && override !== '') {
    const resolved = resolveCommandLine(override);
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
    if (lexists(venvPython)) {
      const venv = dirname(dirname(venvPython));
      return verified(
        venvPython,
        `venv beside the app: ${venvPython}`,
        `recreate the venv with a Python this host has: rm -rf ${venv} && /usr/bin/python3 -m venv ${venv}`,
      );
    }
  }

  const shebang = readShebang(appFile);
  if (shebang !== null) {
    const named = pythonFromShebang(shebang);
    if (named !== null) {
      const name = basename(appFile);
      const fix = `change the first line of ${name} to name an installed Python, e.g. #!/usr/bin/python3`;
      if (named.lookup) {
        const found = findInSafePath(named.name);
        if (found === null) {
          throw notFound(
            `shebang of ${name}: ${shebang} names ${named.name}, which is not in ${SAFE_PATH.join(':')} (the only places searched). Fix: ${fix}.`,
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
    if (isExecutable(candidate)) return { path: candidate, reason: `built-in default ${candidate}` };
  }
  throw notFound(
    `No Python found: the app names none (settings, venv/ or .venv/ beside it, shebang), the host sets no default_python, ` +
      `and neither ${BUILTIN_PYTHONS.join(' nor ')} exists. ${foundPythons()} ` +
      `Fix: set python = "/path/to/python3" in ${basename(appFile)}.toml.`,
  );
}

// ---------------------------------------------------------------------------------------------

function verified(file: string, reason: string, fix: string): PythonChoice {
  if (isExecutable(file)) return { path: file, reason };
  let problem = 'does not exist';
  try {
    const lst = lstatSync(file);
    if (lst.isSymbolicLink() && !existsSync(file)) {
      problem = `is a broken symlink (to ${readlinkSync(file)})`;
    } else if (statSync(file).isDirectory()) {
      problem = 'is a folder';
    } else {
      problem = 'is not executable';
    }
  } catch {
    // does not exist
  }
  throw notFound(`${reason}: ${file} ${problem}. ${foundPythons()} Fix: ${fix}.`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function lexists(file: string): boolean {
  try {
    // Most of these are misses (the venv/ and .venv/ candidates): no error object for ENOENT.
    return lstatSync(file, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

function resolveCommandLine(value: string): string {
  if (value.includes('/')) return resolve(value);
  // A bare name: the safe path, as a shebang's env would, never $PATH.
  const found = findInSafePath(value);
  if (found === null) {
    throw notFound(
      `--python ${value}: not found in ${SAFE_PATH.join(':')} (the only places searched; $PATH is not used). ${foundPythons()} Fix: give an absolute path, e.g. --python /usr/bin/python3.`,
    );
  }
  return found;
}

/** The first executable `name` in SAFE_PATH, or null. */
export function findInSafePath(name: string): string | null {
  for (const dir of SAFE_PATH) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
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
function foundPythons(): string {
  const found: string[] = [];
  const seenDirs = new Set<string>();
  for (const dir of SAFE_PATH) {
    let names: string[];
    try {
      const real = realpathSync(dir); // /bin is often a link to /usr/bin
      if (seenDirs.has(real)) continue;
      seenDirs.add(real);
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const file = join(dir, name);
      if (PYTHON_NAME.test(name) && isExecutable(file) && !found.includes(file)) found.push(file);
    }
  }
  return found.length === 0 ? `No Python found in ${SAFE_PATH.join(':')}.` : `Found: ${found.join(', ')}.`;
}

function notFound(message: string): WsgikitError {
  return new WsgikitError('WSGIKIT_PYTHON_NOT_FOUND', message);
}
