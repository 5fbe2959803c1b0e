// Where an app's log lives when its settings do not say. It must be in the owner's own space and
// never under a document root, where the web server would hand it to anyone who asked.

import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { shortHash } from '../short-hash.js';

/** Longest readable part of a log file name; file systems allow 255 bytes for the whole name. */
const MAX_SLUG = 100;

/**
 * `${home}/.wsgikit/logs/<slug>-<hash>.log`. The slug is the app path (relative to home when it is
 * inside it, so the name survives a move of the home folder) with separators turned into `_`, the
 * `.wsgi` ending dropped and anything but `A-Z a-z 0-9 . _ -` removed. Because that mapping loses
 * information (`a/b_c.wsgi` and `a_b/c.wsgi` give one slug), eight hex digits of a hash of the same
 * path follow, so two apps never share a log by accident.
 */
export function defaultLogFile(appFile: string, home: string): string {
  const homeDir = resolve(home);
  const app = resolve(appFile);
  const key = isUnder(app, homeDir) ? relative(homeDir, app) : app;
  const slug =
    key
      .replace(/\.wsgi$/i, '')
      .split(/[\\/]+/)
      .filter((part) => part !== '')
      .join('_')
      .replace(/[^A-Za-z0-9._-]/g, '')
      .replace(/^[.-]+/, '')
      .slice(0, MAX_SLUG) || 'app';
  const hash = shortHash(key).slice(0, 8);
  return join(homeDir, '.wsgikit', 'logs', `${slug}-${hash}.log`);
}

/**
 * Whether `child` is `parent` or inside it, by resolved path. Symlinks are not followed: callers
 * that must not be fooled by one pass `realpathSync` results.
 */
export function isUnder(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel));
}
