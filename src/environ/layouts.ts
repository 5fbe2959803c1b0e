// wsgi-run --layout: what each common host layout hands a CGI/FastCGI program for a request, made
// from the local HTTP request. The result goes through the same repair as on the host, so the app
// sees locally what it will see there, and the explain lines show how it got it.

import { basename, dirname } from 'node:path';
import type { Environ } from '../exchange.js';
import { WsgikitError } from '../errors.js';

export const LAYOUTS = {
  action: 'Apache Action handler: /app.wsgi/… reaches /cgi-bin/wsgi-cgi with the .wsgi in PATH_INFO',
  rewrite: 'Apache mod_rewrite hides app.wsgi: every path is rewritten to /app.wsgi (docs/apache-cgi.md)',
  'nginx-split': 'nginx fastcgi_split_path_info ^(.+?\\.wsgi)(/.*)$: /app.wsgi/… split at the .wsgi',
  'nginx-no-split': 'nginx with no split: SCRIPT_NAME is the whole path, PATH_INFO unset',
  'lighttpd-root': 'lighttpd fastcgi.server "/" without fix-root-scriptname: split at the first "/"',
} as const;

export type LayoutName = keyof typeof LAYOUTS;

export function isLayout(name: string): name is LayoutName {
  return Object.hasOwn(LAYOUTS, name);
}

/**
 * The variables the server of `layout` would send. `local` is wsgi-run's own environ for the
 * request (SCRIPT_NAME "", PATH_INFO the whole path); the app lives at `appFile`, and its folder
 * plays the document root.
 */
export function layoutVars(layout: LayoutName, local: Environ, appFile: string): Environ {
  const docroot = dirname(appFile);
  const name = '/' + basename(appFile);
  const path = local.PATH_INFO ?? '/';
  const uri = local.REQUEST_URI ?? path;
  const base: Environ = { ...local, DOCUMENT_ROOT: docroot };
  delete base.PATH_TRANSLATED;
  switch (layout) {
    case 'action':
      requireAppInPath(path, name);
      return {
        ...base,
        SERVER_SOFTWARE: 'Apache/2.4 (wsgi-run --layout action)',
        SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
        SCRIPT_FILENAME: '/usr/lib/cgi-bin/wsgi-cgi',
        PATH_INFO: path,
        PATH_TRANSLATED: docroot + path,
        REDIRECT_URL: path,
        REDIRECT_STATUS: '200',
        REDIRECT_HANDLER: 'wsgi-script',
      };
    case 'rewrite': {
      // The documented rule carries no path ("RewriteRule ^ app.wsgi"): Apache sends none.
      const vars: Environ = {
        ...base,
        SERVER_SOFTWARE: 'Apache/2.4 (wsgi-run --layout rewrite)',
        SCRIPT_NAME: name,
        SCRIPT_FILENAME: appFile,
        REDIRECT_URL: path,
        REDIRECT_STATUS: '200',
      };
      delete vars.PATH_INFO;
      return vars;
    }
    case 'nginx-split': {
      requireAppInPath(path, name);
      return {
        ...base,
        SERVER_SOFTWARE: 'nginx/1.22 (wsgi-run --layout nginx-split)',
        SCRIPT_NAME: name,
        SCRIPT_FILENAME: appFile,
        PATH_INFO: path.slice(name.length),
      };
    }
    case 'nginx-no-split': {
      const vars: Environ = {
        ...base,
        SERVER_SOFTWARE: 'nginx/1.22 (wsgi-run --layout nginx-no-split)',
        SCRIPT_NAME: path,
        SCRIPT_FILENAME: docroot + path,
      };
      delete vars.PATH_INFO;
      return vars;
    }
    case 'lighttpd-root': {
      const cut = path.indexOf('/', 1);
      return {
        ...base,
        SERVER_SOFTWARE: 'lighttpd/1.4 (wsgi-run --layout lighttpd-root)',
        SCRIPT_NAME: cut === -1 ? path : path.slice(0, cut),
        PATH_INFO: cut === -1 ? '' : path.slice(cut),
        SCRIPT_FILENAME: appFile,
        REQUEST_URI: uri,
      };
    }
  }
}

function requireAppInPath(path: string, name: string): void {
  if (path !== name && !path.startsWith(name + '/')) {
    throw new WsgikitError(
      'WSGIKIT_APP_NOT_FOUND',
      `In this layout the app's URLs start with ${name} (the file's own name), e.g. ${name}/; ${path} does not.`,
    );
  }
}
