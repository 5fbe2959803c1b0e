// Where the web space is and which program the server execs for the app: the .wsgi itself when
// its first line names wsgi-cgi (AddHandler cgi-script), else the entry stub an Action handler
// names (suexec/wsgi-cgi, copied into the user's cgi-bin). suEXEC and cgiwrap check that program,
// not the .wsgi behind it.

import fs from 'node:fs';
import path from 'node:path';
import type { ProgramLayout, Target } from './types.js';
import { readShebang } from '../app/python.js';

const DOCROOT_NAMES = new Set(['public_html', 'www', 'htdocs', 'html']);

/** The nearest ancestor folder named public_html, www, htdocs or html. */
export function guessDocroot(file: string): string | null {
  let dir = path.dirname(file);
  for (;;) {
    if (DOCROOT_NAMES.has(path.basename(dir))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/** The interpreter a shebang runs: `{ path: '/usr/bin/env', lookup: 'wsgi-cgi' }` or `{ path: '/x/y', lookup: null }`. */
export function shebangInterpreter(line: string): { path: string; lookup: string | null } | null {
  const words = line.slice(2).trim().split(/\s+/).filter(Boolean);
  const first = words[0];
  if (first === undefined) return null;
  if (path.basename(first) === 'env') {
    const name = words.slice(1).find((w) => !w.startsWith('-') && !w.includes('='));
    return { path: first, lookup: name ?? null };
  }
  return { path: first, lookup: null };
}

/** python, python3.12, pypy3: a shebang naming one only chooses the app's Python (src/app/python.ts). */
const PYTHON_NAME = /^(?:python|pypy)(?:\d+(?:\.\d+)*t?)?$/;

/**
 * Whether the server execs the .wsgi itself: its first line names a program that is not a Python
 * (normally wsgi-cgi: `#!/usr/local/bin/wsgi-cgi`, `#!/usr/bin/env wsgi-cgi`).
 */
function isProgramShebang(line: string): boolean {
  const interp = shebangInterpreter(line);
  if (interp === null) return false;
  const name = interp.lookup ?? interp.path;
  return !PYTHON_NAME.test(path.basename(name));
}

/** `Action NAME URL` lines in .htaccess files from the app's folder up to the docroot. */
function actionUrls(appDir: string, docroot: string | null): string[] {
  const urls: string[] = [];
  let dir = appDir;
  for (let i = 0; i < 32; i++) {
    try {
      const text = fs.readFileSync(path.join(dir, '.htaccess'), 'utf8');
      for (const m of text.matchAll(/^\s*Action\s+\S+\s+("?)(\/\S+?)\1(?:\s|$)/gim)) urls.push(m[2]!);
    } catch {
      // no .htaccess here
    }
    if (docroot !== null && dir === docroot) break;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return urls;
}

export function detectLayout(
  realApp: string,
  docroot: string | null,
  target: Target,
  stubOption: string | undefined,
): ProgramLayout {
  const shebang = readShebang(realApp);
  if (shebang !== null && isProgramShebang(shebang)) return { kind: 'shebang', program: realApp, shebang };
  if (stubOption !== undefined) return { kind: 'stub', program: path.resolve(stubOption), how: '--stub' };

  const candidates: { file: string; how: string }[] = [];
  const userdir = target.home === null ? null : path.join(target.home, 'public_html');
  for (const url of actionUrls(path.dirname(realApp), docroot)) {
    const how = `the Action line of a .htaccess (${url})`;
    const user = /^\/~([^/]+)(\/.*)$/.exec(url);
    if (user !== null && userdir !== null) candidates.push({ file: path.join(userdir, user[2]!), how });
    if (docroot !== null) {
      candidates.push({ file: path.join(docroot, url), how });
      candidates.push({
        file: path.join(path.dirname(docroot), url),
        how: `${how}, as a ScriptAlias beside the docroot`,
      });
    }
  }
  const guesses = [
    docroot === null ? null : path.join(docroot, 'cgi-bin', 'wsgi-cgi'),
    docroot === null ? null : path.join(path.dirname(docroot), 'cgi-bin', 'wsgi-cgi'),
    userdir === null ? null : path.join(userdir, 'cgi-bin', 'wsgi-cgi'),
  ];
  for (const file of guesses) if (file !== null) candidates.push({ file, how: 'the usual place of the entry stub' });

  const looked: string[] = [];
  for (const c of candidates) {
    if (looked.includes(c.file)) continue;
    looked.push(c.file);
    try {
      fs.lstatSync(c.file);
      return { kind: 'stub', program: c.file, how: c.how };
    } catch {
      // not there
    }
  }
  return { kind: 'none', looked };
}
