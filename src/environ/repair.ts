// SCRIPT_NAME / PATH_INFO repair for requests that came through CGI or FastCGI. Every server layout
// of docs/server-layouts.md hands the app a different pair; this module turns each into the pair
// that rebuilds the public URL path (SCRIPT_NAME + PATH_INFO) and routes the app as its author
// meant. Pure: the only look at the disk is the injected `isFile`.
//
// The rules are tried in the order of RULES below; the first that recognises the layout decides.
// The numbers (#n) are the rows of docs/server-layouts.md's table; "rule n" its numbered rules.

import { Buffer } from 'node:buffer';
import type { Environ } from '../exchange.js';
import { OutsideMountError, WsgikitError } from '../errors.js';
import {
  commonSuffix,
  findAppFile,
  type FoundApp,
  fsPath,
  hasAppExtension,
  isPathPrefix,
  lastSegment,
  mergeSlashes,
  mountFromRequestUri,
  requestUriPath,
  show,
  withoutTail,
} from './repair-paths.js';
import { decodePath, removeDotSegments } from './url-path.js';
import { alignUrlVars, urlVarChanges, urlVarsAgree } from './url-vars.js';

export interface RepairInput {
  /** What the server sent (CGI env or FastCGI PARAMS), byte strings. */
  vars: Environ;
  /** SCRIPT_NAME fixed by settings (`mount`), or null: detect. Text as written ("/café" is UTF-8 bytes). */
  mount: string | null;
  /**
   * Whether a path names a regular file. Takes a node:fs path (the server's bytes decoded as UTF-8).
   * Injected so tests need no disk; repair-fs.ts has the fs.statSync one.
   */
  isFile(path: string): boolean;
  /** The file extension(s) that mark an app, default ['.wsgi']. */
  appExtensions?: string[];
}

export interface RepairResult {
  /**
   * A new object: SCRIPT_NAME and PATH_INFO repaired; every other key kept; PATH_TRANSLATED redone
   * as DOCUMENT_ROOT + PATH_INFO when PATH_INFO changed (dropped when there is no DOCUMENT_ROOT or
   * no PATH_INFO); SCRIPT_FILENAME freed of a "proxy:fcgi://host" prefix; the other variables that
   * name the URL (SCRIPT_URL, REDIRECT_URL, … : url-vars.ts) made to say SCRIPT_NAME + PATH_INFO, or
   * removed.
   */
  environ: Environ;
  /** The .wsgi the request names (a node:fs path), when the layout tells; null: the front end's own. */
  appFile: string | null;
  /** Stable id of the rule that decided: one of RULE_IDS. */
  rule: string;
  /** Human lines: what came in, which rule fired and why, what goes out. */
  explain: string[];
}

/**
 * The rules, in the order they are tried; the first that recognises the layout decides. Each is a
 * small function that returns null when the layout is not its own.
 */
const RULES: ReadonlyArray<readonly [id: string, rule: Rule]> = [
  ['mount-setting', mountSetting], //             settings fix the mount (rule 1); #15, #16 need it
  ['proxy-fcgi', proxyFcgi], //                   #9 with PATH_INFO: SCRIPT_FILENAME "proxy:fcgi://…"
  ['proxy-fcgi-no-pathinfo', proxyFcgiNoPathInfo], // #9: ProxyPass, PATH_INFO not set
  ['action-handler', actionHandler], //           #5, #6 (rule 2); also with a rewrite hiding the .wsgi
  ['cgiwrap', cgiwrap], //                        #8, before and after cgiwrap's own SetScriptName
  ['iis-duplicate', iisDuplicate], //             #22: PATH_INFO repeats SCRIPT_NAME
  ['nginx-no-split', nginxNoSplit], //            #11, #13 with %0a: SCRIPT_NAME is the whole path
  ['pathinfo-from-request-uri', halfSplit], //    #13 try_files: PATH_INFO lost (rule 5)
  ['directory-index', directoryIndex], //         #14: fastcgi_index / DirectoryIndex appended the script
  ['rewrite-hidden-script', rewriteHidden], //    #2, #3, #4, #10 (rule 3)
  ['script-alias', scriptAlias], //               #7: SCRIPT_NAME names no .wsgi, SCRIPT_FILENAME does
  ['trailing-slash', trailingSlash], //           #19, #20: "/" → "" (rule 4)
  ['direct', direct], //                          #1, #12, #13, #17, #18, userdir: already right
];

/** The rule ids in order of precedence, for documentation and `--explain`. */
export const RULE_IDS: readonly string[] = RULES.map(([id]) => id);

const DEFAULT_EXTENSIONS = ['.wsgi'];

export function repairEnviron(input: RepairInput): RepairResult {
  const req = view(input);
  return finish(req, decide(req, RULES));
}

// ---------------------------------------------------------------------------------------------
// What the rules see: the request's variables, read and normalised once.

interface Request {
  vars: Environ;
  scriptName: string;
  pathInfo: string;
  /** The decoded, dot-free, slash-merged path of REQUEST_URI; null when the server sent none. */
  uriPath: string | null;
  scriptFilename: string | null;
  documentRoot: string | null;
  serverSoftware: string;
  /** The mount setting as bytes, "" or "/prefix"; null: detect. */
  mount: string | null;
  extensions: readonly string[];
  isFile(fsPath: string): boolean;
  /** Lines from rules that looked and passed, for the explain output (made only when asked for). */
  notes: Array<() => string>;
}

interface Decision {
  scriptName: string;
  pathInfo: string;
  appFile: string | null;
  /**
   * The lines that say why, for explain: made only when asked for, so that no request pays to
   * format lines only explain mode reads.
   */
  why: () => string[];
  /** Other variables to set. */
  set?: Environ;
}

type Rule = (req: Request) => Decision | null;

function view(input: RepairInput): Request {
  const v = input.vars;
  const uri = v.REQUEST_URI;
  return {
    vars: v,
    scriptName: v.SCRIPT_NAME ?? '',
    pathInfo: v.PATH_INFO ?? '',
    uriPath: uri ? requestUriPath(uri) : null,
    scriptFilename: v.SCRIPT_FILENAME || null,
    documentRoot: v.DOCUMENT_ROOT || null,
    serverSoftware: lowerSoftware(v.SERVER_SOFTWARE ?? ''),
    mount: input.mount === null ? null : mountBytes(input.mount),
    extensions: input.appExtensions ? input.appExtensions.map((e) => e.toLowerCase()) : DEFAULT_EXTENSIONS,
    isFile: input.isFile,
    notes: [],
  };
}

/** SERVER_SOFTWARE in lower case, made again only when it changes (a server sends the same). */
let software = '';
let softwareLower = '';
function lowerSoftware(value: string): string {
  if (value !== software) {
    software = value;
    softwareLower = value.toLowerCase();
  }
  return softwareLower;
}

function mountBytes(mount: string): string {
  const bytes = Buffer.from(mount, 'utf8').toString('latin1');
  if (bytes !== '' && bytes[0] !== '/') {
    throw new WsgikitError(
      'WSGIKIT_SETTINGS_INVALID',
      `The mount ${JSON.stringify(mount)} must start with "/" (or be "" for the site root).`,
    );
  }
  return mergeSlashes(bytes).replace(/\/+$/, '');
}

// ---------------------------------------------------------------------------------------------
// The rules.

/** Settings fix SCRIPT_NAME; PATH_INFO is the rest of the request path. */
function mountSetting(req: Request): Decision | null {
  const mount = req.mount;
  if (mount === null) return null;
  const path = req.uriPath ?? removeDotSegments(mergeSlashes(req.scriptName + req.pathInfo) || '/');
  let pathInfo: string;
  if (mount === '') pathInfo = path;
  else if (path === mount || path.startsWith(mount + '/')) pathInfo = path.slice(mount.length);
  else throw new OutsideMountError(path, mount);
  // The layout still tells which .wsgi the request names.
  const layout = decide(
    req,
    RULES.filter(([id]) => id !== 'mount-setting'),
  );
  return {
    scriptName: mount,
    pathInfo,
    appFile: layout.appFile,
    why: () => [
      `the mount setting ${show(mount)} is SCRIPT_NAME; PATH_INFO is the request path ${show(path)} after it` +
        (layout.appFile === null ? '' : `; the layout (${layout.rule}) names the app`),
    ],
  };
}

/**
 * Apache mod_proxy_fcgi with SetHandler "proxy:fcgi://…" (or proxy-fcgi-pathinfo): the pair is
 * right; SCRIPT_FILENAME is "proxy:fcgi://host:port/PATH" (the FPM backend type, the default).
 */
function proxyFcgi(req: Request): Decision | null {
  if (req.pathInfo === '') return null;
  const proxied = proxyPath(req);
  if (proxied === null) return null;
  return alignWithRequestUri(req, {
    scriptName: req.scriptName,
    pathInfo: req.pathInfo,
    appFile: proxied.appFile,
    why: () => [proxied.why(), 'PATH_INFO is set, so the pair stands'],
    set: { SCRIPT_FILENAME: proxied.path },
  });
}

/**
 * Apache mod_proxy_fcgi with ProxyPass / ProxyPassMatch: PATH_INFO is not set and SCRIPT_NAME is
 * the whole request path. The backend URL's path either names the app (split after it) or is what
 * ProxyPass made of the request path (the end they share is PATH_INFO, the rest is the prefix).
 */
function proxyFcgiNoPathInfo(req: Request): Decision | null {
  if (req.pathInfo !== '') return null;
  const proxied = proxyPath(req);
  if (proxied === null) return null;
  const s = req.scriptName;
  const found = proxied.found;
  if (found !== null && found.tail === '') {
    // The backend path is the app itself (SetHandler on a .wsgi with nothing after its name, or
    // ProxyPassMatch ^/shop$ …/shop.wsgi): the URL named the app whole, so the pair is right as sent.
    return alignWithRequestUri(req, {
      scriptName: s,
      pathInfo: '',
      appFile: proxied.appFile,
      why: () => [proxied.why(), `the backend path is the app ${show(found.file)} itself: nothing follows it`],
      set: { SCRIPT_FILENAME: proxied.path },
    });
  }
  const tail = found !== null ? found.tail : commonSuffix(s, proxied.path);
  const how = (): string =>
    found !== null
      ? `the backend path names the app ${show(found.file)}; what follows it is PATH_INFO`
      : 'PATH_INFO is the end SCRIPT_NAME shares with the backend path; the rest is the ProxyPass prefix';
  const head = withoutTail(s, tail);
  return alignWithRequestUri(req, {
    scriptName: head ?? s,
    pathInfo: head === null ? '' : tail,
    appFile: proxied.appFile,
    why: () => [proxied.why(), how()],
    set: { SCRIPT_FILENAME: proxied.path },
  });
}

interface ProxiedPath {
  /** SCRIPT_FILENAME without "proxy:fcgi://host:port", decoded. */
  path: string;
  found: FoundApp | null;
  appFile: string | null;
  why: () => string;
}

function proxyPath(req: Request): ProxiedPath | null {
  const sf = req.scriptFilename;
  const m = sf === null ? null : /^proxy:(?:fcgi|balancer):\/\/[^/]*/.exec(sf);
  if (sf === null || m === null) return null;
  let rest = sf.slice(m[0].length);
  const q = rest.indexOf('?');
  if (q !== -1) rest = rest.slice(0, q); // GENERIC backends get the query appended
  const path = decodePath(rest); // mod_proxy percent-encodes the path it builds
  const found = path === '' ? null : findAppFile(path, req.extensions, req.isFile);
  return {
    path,
    found,
    appFile: found === null ? null : fsPath(found.file),
    why: () => `SCRIPT_FILENAME ${show(sf)} comes from mod_proxy_fcgi; its path is ${show(path)}`,
  };
}

/**
 * Apache `Action wsgi-script /cgi-bin/wsgi-cgi` + `AddHandler wsgi-script .wsgi`: SCRIPT_NAME is the
 * handler, PATH_INFO the requested path, PATH_TRANSLATED its file. mod_actions leaves REDIRECT_*
 * behind; without those, a handler CGI merely called with a path is not taken for an Action.
 */
function actionHandler(req: Request): Decision | null {
  const v = req.vars;
  const pt = v.PATH_TRANSLATED;
  if (!pt || req.pathInfo === '' || hasAppExtension(lastSegment(req.scriptName), req.extensions)) return null;
  if (!v.REDIRECT_URL && !v.REDIRECT_HANDLER && !v.REDIRECT_STATUS) return null;
  const found = findAppFile(pt, req.extensions, req.isFile);
  if (found === null) {
    req.notes.push(() => `action-handler: PATH_TRANSLATED ${show(pt)} names no existing app file (Action … virtual?)`);
    return null;
  }
  const head = withoutTail(req.pathInfo, found.tail);
  if (head === null) {
    req.notes.push(() => `action-handler: PATH_INFO ${show(req.pathInfo)} does not end as PATH_TRANSLATED does`);
    return null;
  }
  const why = (): string[] => [
    `SCRIPT_NAME ${show(req.scriptName)} is the Action handler; PATH_TRANSLATED walked back to the app ${show(found.file)}`,
  ];
  return alignWithRequestUri(req, {
    scriptName: head,
    pathInfo: found.tail,
    appFile: fsPath(found.file),
    why,
  });
}

const CGIWRAP = /^(?:nph-|php-)?cgiwrapd?$/;

/**
 * cgiwrap: /cgi-bin/cgiwrap/USER/SCRIPT/path. Before it runs its SetScriptName, SCRIPT_NAME is the
 * cgiwrap binary and PATH_INFO starts with the user; after, SCRIPT_NAME is /cgi-bin/cgiwrap/USER/SCRIPT
 * (USER without a "~" the URL may have had) and PATH_INFO has lost its leading "/" (fetch.c).
 */
function cgiwrap(req: Request): Decision | null {
  if (req.scriptName.indexOf('cgiwrap') === -1) return null; // every name CGIWRAP takes has it
  const segments = req.scriptName.split('/');
  const at = segments.findIndex((s) => CGIWRAP.test(s));
  // cgiwrap itself (last), or cgiwrap followed by exactly USER and a script path.
  if (at === -1 || at === segments.length - 2) return null;
  let scriptName = req.scriptName;
  let pathInfo = req.pathInfo;
  let appFile: string | null = null;
  let why: () => string[];
  if (at === segments.length - 1) {
    // Before: PATH_INFO = /USER/SCRIPT[/more]; SCRIPT is the first app-named segment (cgiwrap
    // --with-script-subdirs) or else the first one.
    const parts = pathInfo.split('/');
    if (parts.length < 3 || parts[0] !== '' || parts[1] === '' || parts[2] === '') return null;
    let end = parts.findIndex((p, i) => i >= 2 && hasAppExtension(p, req.extensions));
    if (end === -1) end = 2;
    scriptName = req.scriptName + parts.slice(0, end + 1).join('/');
    pathInfo = parts.length > end + 1 ? '/' + parts.slice(end + 1).join('/') : '';
    why = () => [`SCRIPT_NAME ${show(req.scriptName)} is cgiwrap itself; PATH_INFO starts with the user and script`];
  } else {
    if (pathInfo !== '' && pathInfo[0] !== '/') pathInfo = '/' + pathInfo;
    const sf = req.scriptFilename;
    if (sf !== null && hasAppExtension(sf, req.extensions)) appFile = fsPath(sf);
    why = () => ['cgiwrap has already rewritten SCRIPT_NAME to include the user and script'];
  }
  return alignWithRequestUri(req, { scriptName, pathInfo, appFile, why });
}

/** IIS CGI without allowPathInfo: PATH_INFO is the whole path, SCRIPT_NAME included (wsgiref IISCGIHandler). */
function iisDuplicate(req: Request): Decision | null {
  const { scriptName: s, pathInfo: p, uriPath } = req;
  if (s === '' || s === '/' || !(p === s || p.startsWith(s + '/'))) return null;
  const iis = req.serverSoftware.startsWith('microsoft-iis');
  // Elsewhere only when REQUEST_URI proves it: the public path is PATH_INFO, not SCRIPT_NAME + PATH_INFO.
  if (iis ? uriPath === s + p : uriPath !== p) return null;
  return {
    scriptName: s,
    pathInfo: p.slice(s.length),
    appFile: appFileFromScriptFilename(req),
    why: () => [`PATH_INFO ${show(p)} repeats SCRIPT_NAME; the repeat is dropped`],
  };
}

/**
 * nginx without fastcgi_split_path_info: SCRIPT_NAME = $fastcgi_script_name = the whole path, no
 * PATH_INFO. The same shape comes from a split regex that failed (a %0a in the URI). Split at the
 * .wsgi that SCRIPT_FILENAME (or DOCUMENT_ROOT + SCRIPT_NAME) names; else the app is at the root.
 * Not for Apache, lighttpd and IIS: they split themselves, so an empty PATH_INFO there is real.
 */
function nginxNoSplit(req: Request): Decision | null {
  const s = req.scriptName;
  if (req.pathInfo !== '' || s === '' || (req.uriPath !== null && s !== req.uriPath)) return null;
  if (/^(?:apache|lighttpd|microsoft-iis)/.test(req.serverSoftware)) return null;
  if (hasAppExtension(lastSegment(s), req.extensions)) return null;
  const sf = req.scriptFilename;
  // A real program at that very URL (plain CGI, fcgiwrap): the pair is right as it is.
  if (sf !== null && lastSegment(sf) === lastSegment(s) && req.isFile(fsPath(sf))) return null;
  const base = sf ?? (req.documentRoot === null ? null : req.documentRoot.replace(/\/+$/, '') + s);
  const found = base === null ? null : findAppFile(base, req.extensions, req.isFile);
  // A SCRIPT_FILENAME that is the app itself (a fixed fastcgi_param) says nothing about the split.
  const head = found === null || found.tail === '' ? null : withoutTail(s, found.tail);
  if (found !== null && head !== null) {
    return {
      scriptName: head,
      pathInfo: found.tail,
      appFile: fsPath(found.file),
      why: () => [`SCRIPT_NAME is the whole path and PATH_INFO is empty; split after the app ${show(found.file)}`],
    };
  }
  if ('PATH_INFO' in req.vars) {
    // Debian's fastcgi_params sends no PATH_INFO; a config that sends one splits the path. An empty
    // one is the split's own answer for the mount itself (/tcp under ^(/tcp)(/.*)$).
    req.notes.push(
      () =>
        'nginx-no-split passed: PATH_INFO was sent, so nginx split the path (fastcgi_split_path_info); ' +
        `SCRIPT_NAME ${show(s)} is the mount itself`,
    );
    return null;
  }
  return {
    scriptName: '',
    pathInfo: s,
    appFile: found === null ? null : fsPath(found.file),
    why: () => [
      'SCRIPT_NAME is the whole path, PATH_INFO is empty and no .wsgi is named in it: the app is taken to be ' +
        'at the site root. If it lives under a prefix, set `mount` (or use fastcgi_split_path_info).',
    ],
  };
}

/** PATH_INFO empty but REQUEST_URI goes on past SCRIPT_NAME (nginx try_files resetting $fastcgi_path_info). */
function halfSplit(req: Request): Decision | null {
  const { scriptName: s, uriPath } = req;
  if (req.pathInfo !== '' || uriPath === null || uriPath.length <= s.length || !isPathPrefix(uriPath, s)) return null;
  const base = s.replace(/\/+$/, '');
  return {
    scriptName: s,
    pathInfo: uriPath.slice(base.length),
    appFile: appFileFromScriptFilename(req),
    why: () => [
      `PATH_INFO is empty but the request path ${show(uriPath)} goes on past SCRIPT_NAME; the rest is PATH_INFO`,
    ],
  };
}

/** nginx fastcgi_index / Apache DirectoryIndex: "/dir/" became SCRIPT_NAME "/dir/index.wsgi". */
function directoryIndex(req: Request): Decision | null {
  const { scriptName: s, uriPath } = req;
  if (req.pathInfo !== '' || uriPath === null || !uriPath.endsWith('/')) return null;
  if (s.length <= uriPath.length || !s.startsWith(uriPath) || s.indexOf('/', uriPath.length) !== -1) return null;
  return {
    scriptName: uriPath.slice(0, -1),
    pathInfo: '/',
    appFile: appFileFromScriptFilename(req),
    why: () => [
      `the server appended the index ${show(lastSegment(s))} to the folder ${show(uriPath)}; the folder is the mount`,
    ],
  };
}

/** A rewrite maps the public path onto the script: REQUEST_URI does not start with SCRIPT_NAME. */
function rewriteHidden(req: Request): Decision | null {
  const { uriPath } = req;
  if (uriPath === null || isPathPrefix(uriPath, req.scriptName)) return null;
  const split = mountFromRequestUri(uriPath, req.scriptName, req.pathInfo);
  return {
    scriptName: split.scriptName,
    pathInfo: split.pathInfo,
    appFile: appFileFromScriptFilename(req),
    why: () => [
      `the request path ${show(uriPath)} does not start with SCRIPT_NAME ${show(req.scriptName)}: a rewrite hides the script`,
      `mount: ${split.how()}`,
    ],
  };
}

/** ScriptAlias /app /home/u/app.wsgi: the pair is right; SCRIPT_FILENAME names the app. */
function scriptAlias(req: Request): Decision | null {
  const sf = req.scriptFilename;
  const s = req.scriptName;
  if (sf === null || s === '' || s.endsWith('/') || hasAppExtension(lastSegment(s), req.extensions)) return null;
  if (!hasAppExtension(sf, req.extensions)) return null;
  return {
    scriptName: s,
    pathInfo: req.pathInfo,
    appFile: fsPath(sf),
    why: () => [`SCRIPT_NAME ${show(s)} is an alias of the app SCRIPT_FILENAME names`],
  };
}

function trailingSlash(req: Request): Decision | null {
  if (!req.scriptName.endsWith('/')) return null;
  return {
    scriptName: req.scriptName,
    pathInfo: req.pathInfo,
    appFile: appFileFromScriptFilename(req),
    why: () => [`SCRIPT_NAME ${show(req.scriptName)} ends with "/"; the slash belongs to PATH_INFO`],
  };
}

const DIRECT_WHY = (): string[] => ['SCRIPT_NAME + PATH_INFO already match the request path'];
const DIRECT_LIGHTTPD_WHY = (): string[] => [
  ...DIRECT_WHY(),
  'lighttpd splits at the first "/" after its prefix: if fastcgi.server uses the prefix "/", enable ' +
    '"fix-root-scriptname" or set `mount` to ""',
];

function direct(req: Request): Decision {
  const lighttpdRoot =
    req.serverSoftware.startsWith('lighttpd') && req.pathInfo !== '' && req.scriptName.lastIndexOf('/') === 0;
  return {
    scriptName: req.scriptName,
    pathInfo: req.pathInfo,
    appFile: appFileFromScriptFilename(req),
    why: lighttpdRoot ? DIRECT_LIGHTTPD_WHY : DIRECT_WHY,
  };
}

// ---------------------------------------------------------------------------------------------
// Shared steps.

interface Decided extends Decision {
  rule: string;
}

/**
 * The prototype of a repaired environ's copy: nothing is inherited, and a variable named
 * `__proto__` stays a variable. Copied onto an object made from it, not spread: a spread's copy
 * has a map outside V8's transition tree (V8 11), so the variables added to it made new maps on
 * every request, and every read of the environ further on missed its inline cache.
 */
const INHERITS_NOTHING: Environ = Object.freeze(Object.create(null) as Environ);

/** The first rule (of `rules`, in order) that recognises the layout. */
function decide(req: Request, rules: typeof RULES): Decided {
  for (const [rule, fn] of rules) {
    const decision = fn(req) as Decided | null;
    if (decision !== null) {
      decision.rule = rule; // each rule returns a fresh object: no copy needed
      return decision;
    }
  }
  const decision = direct(req) as Decided;
  decision.rule = 'direct';
  return decision;
}

/** After a split, a rewrite may still hide the script from the public path (Action + rewrite, cgiwrap "~user"). */
function alignWithRequestUri(req: Request, d: Decision): Decision {
  const { uriPath } = req;
  if (uriPath === null || isPathPrefix(uriPath, d.scriptName)) return d;
  const split = mountFromRequestUri(uriPath, d.scriptName, d.pathInfo);
  const why = d.why;
  const scriptName = d.scriptName;
  return {
    ...d,
    scriptName: split.scriptName,
    pathInfo: split.pathInfo,
    why: () => [
      ...why(),
      `the request path ${show(uriPath)} does not start with ${show(scriptName)}: a rewrite hides it; mount: ${split.how()}`,
    ],
  };
}

/**
 * SCRIPT_FILENAME ending in an app extension names the app; one carrying PATH_INFO after it
 * (lighttpd "broken-scriptfilename", nginx without split) is walked back to the app file.
 */
function appFileFromScriptFilename(req: Request): string | null {
  const sf = req.scriptFilename;
  if (sf === null) return null;
  if (hasAppExtension(sf, req.extensions)) return fsPath(sf);
  const found = findAppFile(sf, req.extensions, req.isFile);
  return found === null ? null : fsPath(found.file);
}

const SHOWN_IN = [
  'SCRIPT_NAME',
  'PATH_INFO',
  'REQUEST_URI',
  'PATH_TRANSLATED',
  'SCRIPT_FILENAME',
  'DOCUMENT_ROOT',
  'REDIRECT_URL',
  'SCRIPT_URL',
  'REDIRECT_HANDLER',
  'SERVER_SOFTWARE',
];

function finish(req: Request, d: Decided): RepairResult {
  let scriptName = d.scriptName;
  let pathInfo = d.pathInfo;
  // Anchors rule 4: SCRIPT_NAME never ends with "/", "/" is "" (the slash moves to PATH_INFO).
  if (scriptName.endsWith('/')) {
    scriptName = scriptName.replace(/\/+$/, '');
    if (!pathInfo.startsWith('/')) pathInfo = '/' + pathInfo;
  }
  if (pathInfo !== '' && pathInfo[0] !== '/') pathInfo = '/' + pathInfo;
  // Whatever the pieces came from, PATH_INFO cannot climb above SCRIPT_NAME.
  pathInfo = removeDotSegments(pathInfo);
  if (scriptName.indexOf('\0') !== -1 || pathInfo.indexOf('\0') !== -1) {
    throw new WsgikitError('WSGIKIT_BAD_REQUEST', 'The request path contains a NUL byte.');
  }

  // Most requests arrive right: then the server's variables are the environ, uncopied (nobody
  // downstream changes them), which saves a copy of every variable per request.
  const urlsAgree = urlVarsAgree(req.vars, scriptName, pathInfo);
  const unchanged =
    urlsAgree &&
    d.set === undefined &&
    scriptName === (req.vars.SCRIPT_NAME ?? '') &&
    pathInfo === (req.vars.PATH_INFO ?? '') &&
    'SCRIPT_NAME' in req.vars &&
    'PATH_INFO' in req.vars;
  const environ: Environ = unchanged ? req.vars : Object.assign(Object.create(INHERITS_NOTHING), req.vars, d.set);
  if (!unchanged) {
    environ.SCRIPT_NAME = scriptName;
    environ.PATH_INFO = pathInfo;
  }
  if (!urlsAgree) alignUrlVars(environ, scriptName + pathInfo);
  if (!unchanged && pathInfo !== req.pathInfo && 'PATH_TRANSLATED' in environ) {
    if (pathInfo !== '' && req.documentRoot !== null) {
      environ.PATH_TRANSLATED = req.documentRoot.replace(/\/+$/, '') + pathInfo;
    } else {
      delete environ.PATH_TRANSLATED;
    }
  }

  return new Repaired(environ, req, d, scriptName, pathInfo);
}

/**
 * A RepairResult whose explain lines are built only when asked for (explain mode, wsgi-check):
 * formatting them costs more than the repair. A class, so the getter lives on the prototype rather
 * than in a closure made per request.
 */
class Repaired implements RepairResult {
  readonly appFile: string | null;
  readonly rule: string;
  constructor(
    readonly environ: Environ,
    private readonly req: Request,
    private readonly d: Decided,
    private readonly scriptName: string,
    private readonly pathInfo: string,
  ) {
    this.appFile = d.appFile;
    this.rule = d.rule;
  }

  get explain(): string[] {
    const { req, d, environ, scriptName, pathInfo } = this;
    const shownIn = SHOWN_IN.filter((k) => k in req.vars).map((k) => `${k}=${show(req.vars[k]!)}`);
    return [
      `in: ${shownIn.join(' ') || '(no path variables)'}` + (req.mount === null ? '' : ` mount=${show(req.mount)}`),
      ...req.notes.map((note) => note()),
      ...d.why().map((line, i) => (i === 0 ? `rule ${d.rule}: ${line}` : `  ${line}`)),
      ...urlVarChanges(req.vars, environ),
      `out: SCRIPT_NAME=${show(scriptName)} PATH_INFO=${show(pathInfo)}` +
        ('PATH_TRANSLATED' in environ ? ` PATH_TRANSLATED=${show(environ.PATH_TRANSLATED!)}` : '') +
        ` app=${d.appFile === null ? '(from the front end)' : JSON.stringify(d.appFile)}`,
    ];
  }
}
