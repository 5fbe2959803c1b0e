// --explain URL-PATH: the CGI variables Apache sends for that URL in each common layout (the .wsgi
// in the URL, an Action handler, a rewrite that hides the .wsgi), and what src/environ/repair.ts
// makes of them: the SCRIPT_NAME / PATH_INFO the app will get, the rule that fired and why.

import { Buffer } from 'node:buffer';
import path from 'node:path';
import type { Environ } from '../exchange.js';
import { repairEnvironOnDisk } from '../environ/repair-fs.js';
import { WsgikitError, isWsgikitError } from '../errors.js';

export interface ExplainLayout {
  layout: 'direct' | 'action-handler' | 'rewrite';
  title: string;
  /** The URL path a visitor types. */
  url: string;
  sent: { SCRIPT_NAME: string; PATH_INFO: string };
  /** null: the request is refused (explain says why). */
  got: { SCRIPT_NAME: string; PATH_INFO: string } | null;
  rule: string;
  explain: string[];
}

const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
const text = (b: string): string => Buffer.from(b, 'latin1').toString('utf8');

/** `stubUrl`/`stubFile`: the Action handler's program, as the server names it. */
export function explainLayouts(options: {
  appFile: string;
  docroot: string;
  urlPath: string;
  mount: string | null;
  stubFile: string | null;
}): ExplainLayout[] {
  const { appFile, docroot } = options;
  const rel = path.relative(docroot, appFile);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new WsgikitError('WSGIKIT_USAGE', `${appFile} is not under the document root ${docroot}; pass --docroot`);
  }
  const appUrl = '/' + rel.split(path.sep).join('/');
  const dirUrl = path.posix.dirname(appUrl) === '/' ? '' : path.posix.dirname(appUrl);
  const u = options.urlPath.startsWith('/') ? options.urlPath : `/${options.urlPath}`;
  const [pathPart = '', query = ''] = u.split(/\?(.*)/s);

  // The path inside the app: after the .wsgi's URL, after its folder's, or the whole path.
  let tail: string;
  if (pathPart === appUrl || pathPart.startsWith(appUrl + '/')) tail = pathPart.slice(appUrl.length);
  else if (dirUrl !== '' && (pathPart === dirUrl || pathPart.startsWith(dirUrl + '/')))
    tail = pathPart.slice(dirUrl.length);
  else tail = pathPart;

  const stubFile = options.stubFile ?? '/usr/lib/cgi-bin/wsgi-cgi';
  const base: Environ = {
    SERVER_SOFTWARE: 'Apache/2.4 (Debian)',
    GATEWAY_INTERFACE: 'CGI/1.1',
    DOCUMENT_ROOT: bytes(docroot),
    QUERY_STRING: bytes(query),
    REQUEST_METHOD: 'GET',
  };
  const qs = query === '' ? '' : `?${query}`;
  const layouts: { layout: ExplainLayout['layout']; title: string; url: string; vars: Environ }[] = [
    {
      layout: 'direct',
      title: 'the .wsgi in the URL (AddHandler cgi-script .wsgi, shebang #!/usr/local/bin/wsgi-cgi)',
      url: appUrl + tail,
      vars: {
        SCRIPT_NAME: bytes(appUrl),
        ...(tail === '' ? {} : { PATH_INFO: bytes(tail), PATH_TRANSLATED: bytes(docroot + tail) }),
        REQUEST_URI: bytes(appUrl + tail + qs),
        SCRIPT_FILENAME: bytes(appFile),
      },
    },
    {
      layout: 'action-handler',
      title: 'Action handler (Action wsgi-script /cgi-bin/wsgi-cgi + AddHandler wsgi-script .wsgi)',
      url: appUrl + tail,
      vars: {
        SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
        PATH_INFO: bytes(appUrl + tail),
        PATH_TRANSLATED: bytes(docroot + appUrl + tail),
        REDIRECT_URL: bytes(appUrl + tail),
        REDIRECT_HANDLER: 'wsgi-script',
        REDIRECT_STATUS: '200',
        REQUEST_URI: bytes(appUrl + tail + qs),
        SCRIPT_FILENAME: bytes(stubFile),
      },
    },
    {
      layout: 'rewrite',
      // The rule of docs/apache-cgi.md carries no path: Apache sends no PATH_INFO.
      title: `rewrite hiding the .wsgi (RewriteRule ^ ${path.basename(appFile)} in ${dirUrl || '/'})`,
      url: dirUrl + (tail || '/'),
      vars: {
        SCRIPT_NAME: bytes(appUrl),
        REDIRECT_URL: bytes(dirUrl + (tail || '/')),
        REDIRECT_STATUS: '200',
        REQUEST_URI: bytes(dirUrl + (tail || '/') + qs),
        SCRIPT_FILENAME: bytes(appFile),
      },
    },
  ];
  return layouts.map(({ layout, title, url, vars }) => {
    const vs: Environ = { ...base, ...vars };
    const sent = { SCRIPT_NAME: text(vs.SCRIPT_NAME ?? ''), PATH_INFO: text(vs.PATH_INFO ?? '') };
    try {
      const r = repairEnvironOnDisk({ vars: vs, mount: options.mount });
      return {
        layout,
        title,
        url,
        sent,
        got: { SCRIPT_NAME: text(r.environ.SCRIPT_NAME ?? ''), PATH_INFO: text(r.environ.PATH_INFO ?? '') },
        rule: r.rule,
        explain: r.explain.map(text),
      };
    } catch (error) {
      // A URL outside the mount setting: the front end answers 404 with this reason.
      if (!isWsgikitError(error)) throw error;
      return { layout, title, url, sent, got: null, rule: 'refused', explain: [error.message] };
    }
  });
}

export function formatExplain(layouts: ExplainLayout[]): string {
  const lines: string[] = [];
  for (const l of layouts) {
    lines.push(`${l.layout}: ${l.title}`);
    lines.push(`  URL:          ${l.url}`);
    lines.push(
      `  server sends: SCRIPT_NAME=${JSON.stringify(l.sent.SCRIPT_NAME)} PATH_INFO=${JSON.stringify(l.sent.PATH_INFO)}`,
    );
    lines.push(
      l.got === null
        ? `  app gets:     nothing: refused`
        : `  app gets:     SCRIPT_NAME=${JSON.stringify(l.got.SCRIPT_NAME)} PATH_INFO=${JSON.stringify(l.got.PATH_INFO)}  (rule ${l.rule})`,
    );
    for (const e of l.explain) lines.push(`    ${e}`);
    lines.push('');
  }
  return lines.join('\n');
}
