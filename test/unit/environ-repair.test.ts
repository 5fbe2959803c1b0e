// SCRIPT_NAME / PATH_INFO repair: one row per server layout of docs/server-layouts.md (the row
// number leads the test name), with the variables that server really sends. The disk is a fake:
// the set of files below.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import type { Environ } from '../../src/exchange.js';
import { RULE_IDS, repairEnviron, type RepairInput } from '../../src/environ/repair.js';
import { hasAppExtension, requestUriPath } from '../../src/environ/repair-paths.js';

const D = '/home/u/public_html';
const APACHE = 'Apache/2.4.62 (Debian)';
const NGINX = 'nginx/1.22.1';
const LIGHTTPD = 'lighttpd/1.4.69';

const FILES = new Set([
  `${D}/app.wsgi`,
  `${D}/site.wsgi`,
  `${D}/blog/site.wsgi`,
  `${D}/blog/app.wsgi`,
  `${D}/dir/index.wsgi`,
  `${D}/café.wsgi`,
  `${D}/yourapplication.fcgi`,
  '/home/u/app.wsgi',
  '/home/joe/public_html/app.wsgi',
  '/home/joe/public_html/cgi-bin/app.wsgi',
  '/home/X/site/public_html/app.cgi',
  '/usr/lib/cgi-bin/wsgi-cgi',
  '/usr/lib/cgi-bin/cgiwrap',
]);
const isFile = (path: string): boolean => FILES.has(path);

/** Bytes as PEP 3333 strings: "é" in a URL is C3 A9, two latin-1 characters. */
const bytes = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

interface Row {
  name: string;
  vars: Environ;
  mount?: string;
  ext?: string[];
  out: {
    SCRIPT_NAME: string;
    PATH_INFO: string;
    appFile: string | null;
    rule: string;
    /** Expected PATH_TRANSLATED; null: absent. Unchecked when not given. */
    PATH_TRANSLATED?: string | null;
    SCRIPT_FILENAME?: string;
    /** The URL-naming variables expected out (all of URL_VARS that are there). Unchecked when not given. */
    urls?: Environ;
  };
}

/** Variables besides SCRIPT_NAME and PATH_INFO that name the URL, as the rows use them. */
const URL_VARS = [
  'SCRIPT_URL',
  'SCRIPT_URI',
  'REDIRECT_URL',
  'REDIRECT_SCRIPT_URL',
  'REDIRECT_SCRIPT_URI',
  'REDIRECT_REDIRECT_URL',
  'REDIRECT_REDIRECT_SCRIPT_URL',
  'REDIRECT_URI',
  'DOCUMENT_URI',
];

const apache = (v: Environ): Environ => ({
  SERVER_SOFTWARE: APACHE,
  DOCUMENT_ROOT: D,
  QUERY_STRING: 'x=1',
  GATEWAY_INTERFACE: 'CGI/1.1',
  ...v,
});
const nginx = (v: Environ): Environ => ({ SERVER_SOFTWARE: NGINX, DOCUMENT_ROOT: D, QUERY_STRING: 'x=1', ...v });
const lighttpd = (v: Environ): Environ => ({ SERVER_SOFTWARE: LIGHTTPD, DOCUMENT_ROOT: D, QUERY_STRING: 'x=1', ...v });

const ACTION = {
  REDIRECT_HANDLER: 'wsgi-script',
  REDIRECT_STATUS: '200',
  SCRIPT_FILENAME: '/usr/lib/cgi-bin/wsgi-cgi',
};

const ROWS: Row[] = [
  // Apache
  {
    name: '#1 Apache mod_cgi, AddHandler .wsgi: /app.wsgi/foo/bar is already right',
    vars: apache({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo/bar',
      PATH_TRANSLATED: `${D}/foo/bar`,
      REQUEST_URI: '/app.wsgi/foo/bar?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
    }),
    out: {
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo/bar',
      appFile: `${D}/app.wsgi`,
      rule: 'direct',
      PATH_TRANSLATED: `${D}/foo/bar`,
    },
  },
  {
    name: '#2 mod_rewrite hides site.wsgi at the docroot',
    vars: apache({
      SCRIPT_NAME: '/site.wsgi',
      PATH_INFO: '/foo/bar',
      PATH_TRANSLATED: `${D}/foo/bar`,
      REQUEST_URI: '/foo/bar?x=1',
      REDIRECT_URL: '/foo/bar',
      SCRIPT_URL: '/foo/bar',
      REDIRECT_STATUS: '200',
      SCRIPT_FILENAME: `${D}/site.wsgi`,
    }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/foo/bar', appFile: `${D}/site.wsgi`, rule: 'rewrite-hidden-script' },
  },
  {
    name: '#2 mod_rewrite at the docroot, request "/"',
    vars: apache({
      SCRIPT_NAME: '/site.wsgi',
      PATH_INFO: '/',
      REQUEST_URI: '/',
      SCRIPT_FILENAME: `${D}/site.wsgi`,
    }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/', appFile: `${D}/site.wsgi`, rule: 'rewrite-hidden-script' },
  },
  {
    name: '#3 mod_rewrite hides site.wsgi in /blog/',
    vars: apache({
      SCRIPT_NAME: '/blog/site.wsgi',
      PATH_INFO: '/post/1',
      PATH_TRANSLATED: `${D}/post/1`,
      REQUEST_URI: '/blog/post/1?x=1',
      SCRIPT_FILENAME: `${D}/blog/site.wsgi`,
    }),
    out: {
      SCRIPT_NAME: '/blog',
      PATH_INFO: '/post/1',
      appFile: `${D}/blog/site.wsgi`,
      rule: 'rewrite-hidden-script',
      PATH_TRANSLATED: `${D}/post/1`,
    },
  },
  {
    name: '#3 /blog/ itself (PATH_INFO "/")',
    vars: apache({ SCRIPT_NAME: '/blog/site.wsgi', PATH_INFO: '/', REQUEST_URI: '/blog/' }),
    out: { SCRIPT_NAME: '/blog', PATH_INFO: '/', appFile: null, rule: 'rewrite-hidden-script' },
  },
  {
    name: '#3 rewrite to site.wsgi with no PATH_INFO: the dirname rule',
    vars: apache({ SCRIPT_NAME: '/blog/site.wsgi', REQUEST_URI: '/blog/?x=1' }),
    out: { SCRIPT_NAME: '/blog', PATH_INFO: '/', appFile: null, rule: 'directory-index' },
  },
  {
    name: '#3 with "//" runs and a trailing slash in REQUEST_URI',
    vars: apache({ SCRIPT_NAME: '/blog/site.wsgi', PATH_INFO: '/post/1/', REQUEST_URI: '//blog//post/1/?x=1' }),
    out: { SCRIPT_NAME: '/blog', PATH_INFO: '/post/1/', appFile: null, rule: 'rewrite-hidden-script' },
  },
  {
    name: '#3 rewrite that renames the path: PATH_INFO from the request path (dirname rule)',
    vars: apache({ SCRIPT_NAME: '/blog/site.wsgi', PATH_INFO: '/new/x', REQUEST_URI: '/blog/old/x' }),
    out: { SCRIPT_NAME: '/blog', PATH_INFO: '/old/x', appFile: null, rule: 'rewrite-hidden-script' },
  },
  {
    name: '#3 rewrite of /api/(.*) onto /site.wsgi/$1: the stripped prefix is the mount',
    vars: apache({ SCRIPT_NAME: '/site.wsgi', PATH_INFO: '/users/7', REQUEST_URI: '/api/users/7?x=1' }),
    out: { SCRIPT_NAME: '/api', PATH_INFO: '/users/7', appFile: null, rule: 'rewrite-hidden-script' },
  },
  {
    name: "#4 Flask's CGI recipe: rewrite to a filesystem path app.cgi",
    vars: apache({
      SCRIPT_NAME: '/app.cgi',
      PATH_INFO: '/page',
      PATH_TRANSLATED: `${D}/page`,
      REQUEST_URI: '/page?x=1',
      REDIRECT_URL: '/page',
      REDIRECT_STATUS: '200',
      SCRIPT_FILENAME: '/home/X/site/public_html/app.cgi',
    }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/page', appFile: null, rule: 'rewrite-hidden-script' },
  },
  {
    name: '#5 Apache Action handler',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/app.wsgi/foo',
      PATH_TRANSLATED: `${D}/app.wsgi/foo`,
      REDIRECT_URL: '/app.wsgi/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
    }),
    out: {
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      appFile: `${D}/app.wsgi`,
      rule: 'action-handler',
      PATH_TRANSLATED: `${D}/foo`,
    },
  },
  {
    name: '#5 Action handler, .wsgi in a subfolder',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/blog/app.wsgi/post/1',
      PATH_TRANSLATED: `${D}/blog/app.wsgi/post/1`,
      REDIRECT_URL: '/blog/app.wsgi/post/1',
      REQUEST_URI: '/blog/app.wsgi/post/1?x=1',
    }),
    out: { SCRIPT_NAME: '/blog/app.wsgi', PATH_INFO: '/post/1', appFile: `${D}/blog/app.wsgi`, rule: 'action-handler' },
  },
  {
    name: '#5 Action handler, the .wsgi itself (no PATH_INFO after it)',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/app.wsgi',
      PATH_TRANSLATED: `${D}/app.wsgi`,
      REDIRECT_URL: '/app.wsgi',
      REQUEST_URI: '/app.wsgi?x=1',
    }),
    out: {
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '',
      appFile: `${D}/app.wsgi`,
      rule: 'action-handler',
      PATH_TRANSLATED: null,
    },
  },
  {
    name: '#5 Action handler combined with a rewrite that hides app.wsgi',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/app.wsgi/foo',
      PATH_TRANSLATED: `${D}/app.wsgi/foo`,
      REDIRECT_URL: '/app.wsgi/foo',
      REDIRECT_REDIRECT_URL: '/foo',
      REQUEST_URI: '/foo?x=1',
    }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/foo', appFile: `${D}/app.wsgi`, rule: 'action-handler' },
  },
  {
    name: '#5 Action handler + rewrite inside /blog/',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/blog/app.wsgi/post/1',
      PATH_TRANSLATED: `${D}/blog/app.wsgi/post/1`,
      REDIRECT_URL: '/blog/app.wsgi/post/1',
      REQUEST_URI: '/blog/post/1?x=1',
    }),
    out: { SCRIPT_NAME: '/blog', PATH_INFO: '/post/1', appFile: `${D}/blog/app.wsgi`, rule: 'action-handler' },
  },
  {
    name: '#5 Action handler under userdir, "~" percent-encoded in REQUEST_URI',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/~joe/app.wsgi/foo',
      PATH_TRANSLATED: '/home/joe/public_html/app.wsgi/foo',
      REDIRECT_URL: '/~joe/app.wsgi/foo',
      REQUEST_URI: '/%7Ejoe/app.wsgi/foo?x=1',
    }),
    out: {
      SCRIPT_NAME: '/~joe/app.wsgi',
      PATH_INFO: '/foo',
      appFile: '/home/joe/public_html/app.wsgi',
      rule: 'action-handler',
    },
  },
  {
    name: '#5 Action handler, non-ASCII app name (é as %C3%A9)',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: bytes('/café.wsgi/x'),
      PATH_TRANSLATED: bytes(`${D}/café.wsgi/x`),
      REDIRECT_URL: bytes('/café.wsgi/x'),
      REQUEST_URI: '/caf%C3%A9.wsgi/x',
    }),
    out: {
      SCRIPT_NAME: '/caf\xc3\xa9.wsgi',
      PATH_INFO: '/x',
      appFile: `${D}/café.wsgi`,
      rule: 'action-handler',
    },
  },
  {
    name: '#6 Action … virtual, no such file: the handler URL is hidden, the app is at the root',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/anything/x',
      PATH_TRANSLATED: `${D}/anything/x`,
      REDIRECT_URL: '/anything/x',
      REQUEST_URI: '/anything/x?x=1',
    }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/anything/x', appFile: null, rule: 'rewrite-hidden-script' },
  },
  {
    name: '#7 ScriptAlias /app /home/u/app.wsgi',
    vars: apache({
      SCRIPT_NAME: '/app',
      PATH_INFO: '/foo',
      PATH_TRANSLATED: `${D}/foo`,
      REQUEST_URI: '/app/foo?x=1',
      SCRIPT_FILENAME: '/home/u/app.wsgi',
    }),
    out: { SCRIPT_NAME: '/app', PATH_INFO: '/foo', appFile: '/home/u/app.wsgi', rule: 'script-alias' },
  },
  {
    name: '#7 ScriptAlias, the mount itself',
    vars: apache({ SCRIPT_NAME: '/app', REQUEST_URI: '/app?x=1', SCRIPT_FILENAME: '/home/u/app.wsgi' }),
    out: { SCRIPT_NAME: '/app', PATH_INFO: '', appFile: '/home/u/app.wsgi', rule: 'script-alias' },
  },
  {
    name: 'userdir /~user/app.wsgi/foo',
    vars: apache({
      SCRIPT_NAME: '/~joe/app.wsgi',
      PATH_INFO: '/foo',
      REQUEST_URI: '/~joe/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: '/home/joe/public_html/app.wsgi',
    }),
    out: {
      SCRIPT_NAME: '/~joe/app.wsgi',
      PATH_INFO: '/foo',
      appFile: '/home/joe/public_html/app.wsgi',
      rule: 'direct',
    },
  },
  {
    name: '#8 cgiwrap, before its SetScriptName',
    vars: apache({
      SCRIPT_NAME: '/cgi-bin/cgiwrap',
      PATH_INFO: '/joe/app.wsgi/foo',
      PATH_TRANSLATED: `${D}/joe/app.wsgi/foo`,
      REQUEST_URI: '/cgi-bin/cgiwrap/joe/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: '/usr/lib/cgi-bin/cgiwrap',
    }),
    out: {
      SCRIPT_NAME: '/cgi-bin/cgiwrap/joe/app.wsgi',
      PATH_INFO: '/foo',
      appFile: null,
      rule: 'cgiwrap',
      PATH_TRANSLATED: `${D}/foo`,
    },
  },
  {
    name: '#8 cgiwrap, after SetScriptName (PATH_INFO without its leading "/", as fetch.c leaves it)',
    vars: apache({
      SCRIPT_NAME: '/cgi-bin/cgiwrap/joe/app.wsgi',
      PATH_INFO: 'foo',
      PATH_TRANSLATED: `${D}/foo`,
      REQUEST_URI: '/cgi-bin/cgiwrap/joe/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: '/home/joe/public_html/cgi-bin/app.wsgi',
    }),
    out: {
      SCRIPT_NAME: '/cgi-bin/cgiwrap/joe/app.wsgi',
      PATH_INFO: '/foo',
      appFile: '/home/joe/public_html/cgi-bin/app.wsgi',
      rule: 'cgiwrap',
    },
  },
  {
    name: '#8 cgiwrap, after SetScriptName, URL with "~joe" (cgiwrap drops the "~")',
    vars: apache({
      SCRIPT_NAME: '/cgi-bin/cgiwrap/joe/app.wsgi',
      PATH_INFO: 'foo',
      REQUEST_URI: '/cgi-bin/cgiwrap/~joe/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: '/home/joe/public_html/cgi-bin/app.wsgi',
    }),
    out: {
      SCRIPT_NAME: '/cgi-bin/cgiwrap/~joe/app.wsgi',
      PATH_INFO: '/foo',
      appFile: '/home/joe/public_html/cgi-bin/app.wsgi',
      rule: 'cgiwrap',
    },
  },
  {
    name: '#8 cgiwrapd (debug variant), before, script in a subfolder',
    vars: apache({
      SCRIPT_NAME: '/cgi-bin/cgiwrapd',
      PATH_INFO: '/joe/tools/app.wsgi/a/b',
      REQUEST_URI: '/cgi-bin/cgiwrapd/joe/tools/app.wsgi/a/b',
    }),
    out: { SCRIPT_NAME: '/cgi-bin/cgiwrapd/joe/tools/app.wsgi', PATH_INFO: '/a/b', appFile: null, rule: 'cgiwrap' },
  },
  {
    name: '#9 mod_proxy_fcgi, ProxyPass /app fcgi://127.0.0.1:9000/ (no PATH_INFO)',
    vars: apache({
      SCRIPT_NAME: '/app/foo',
      REQUEST_URI: '/app/foo?x=1',
      SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/foo',
    }),
    out: {
      SCRIPT_NAME: '/app',
      PATH_INFO: '/foo',
      appFile: null,
      rule: 'proxy-fcgi-no-pathinfo',
      SCRIPT_FILENAME: '/foo',
    },
  },
  {
    name: '#9 mod_proxy_fcgi, ProxyPass, request "/app/"',
    vars: apache({ SCRIPT_NAME: '/app/', REQUEST_URI: '/app/', SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/' }),
    out: { SCRIPT_NAME: '/app', PATH_INFO: '/', appFile: null, rule: 'proxy-fcgi-no-pathinfo' },
  },
  {
    name: '#9 mod_proxy_fcgi, ProxyPass, request "/app"',
    vars: apache({ SCRIPT_NAME: '/app', REQUEST_URI: '/app', SCRIPT_FILENAME: 'proxy:fcgi://127.0.0.1:9000/' }),
    out: { SCRIPT_NAME: '/app', PATH_INFO: '', appFile: null, rule: 'proxy-fcgi-no-pathinfo' },
  },
  {
    name: '#9 mod_proxy_fcgi, ProxyPassMatch to the .wsgi path (percent-encoded by mod_proxy)',
    vars: apache({
      SCRIPT_NAME: '/app.wsgi/a b',
      REQUEST_URI: '/app.wsgi/a%20b?x=1',
      SCRIPT_FILENAME: `proxy:fcgi://127.0.0.1:9000${D}/app.wsgi/a%20b`,
    }),
    out: {
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/a b',
      appFile: `${D}/app.wsgi`,
      rule: 'proxy-fcgi-no-pathinfo',
      SCRIPT_FILENAME: `${D}/app.wsgi/a b`,
    },
  },
  {
    // Captured from Apache 2.4.71 (test/e2e/apache-mod-proxy-fcgi.test.ts): SetHandler on a .wsgi
    // requested with nothing after its name sends no PATH_INFO and the app itself as the backend path.
    name: '#9 mod_proxy_fcgi through SetHandler, the .wsgi requested with nothing after it',
    vars: apache({
      SCRIPT_NAME: '/app.wsgi',
      REQUEST_URI: '/app.wsgi',
      SCRIPT_FILENAME: `proxy:fcgi://alice${D}/app.wsgi`,
    }),
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '', appFile: `${D}/app.wsgi`, rule: 'proxy-fcgi-no-pathinfo' },
  },
  {
    name: '#9 mod_proxy_fcgi through SetHandler "proxy:fcgi://…": PATH_INFO set',
    vars: apache({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: `proxy:fcgi://127.0.0.1:9000${D}/app.wsgi`,
    }),
    out: {
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      appFile: `${D}/app.wsgi`,
      rule: 'proxy-fcgi',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
    },
  },
  {
    name: '#10 mod_fcgid + rewrite (Flask doc)',
    vars: apache({
      SCRIPT_NAME: '/yourapplication.fcgi',
      PATH_INFO: '/news/',
      PATH_TRANSLATED: `${D}/news/`,
      REQUEST_URI: '/news/?x=1',
      REDIRECT_URL: '/news/',
      SCRIPT_FILENAME: `${D}/yourapplication.fcgi`,
    }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/news/', appFile: null, rule: 'rewrite-hidden-script' },
  },

  // nginx
  {
    name: '#11 nginx location /app/ without split (Debian fastcgi_params: no PATH_INFO, no SCRIPT_FILENAME)',
    vars: nginx({ SCRIPT_NAME: '/app/foo', REQUEST_URI: '/app/foo?x=1', DOCUMENT_URI: '/app/foo' }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/app/foo', appFile: null, rule: 'nginx-no-split' },
  },
  {
    name: '#11 nginx without split, with a mount: the mount decides',
    vars: nginx({ SCRIPT_NAME: '/app/foo', REQUEST_URI: '/app/foo?x=1' }),
    mount: '/app',
    out: { SCRIPT_NAME: '/app', PATH_INFO: '/foo', appFile: null, rule: 'mount-setting' },
  },
  {
    name: '#11 nginx without split, SCRIPT_FILENAME names the .wsgi',
    vars: nginx({
      SCRIPT_NAME: '/app.wsgi/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi/foo`,
    }),
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo', appFile: `${D}/app.wsgi`, rule: 'nginx-no-split' },
  },
  {
    name: '#11 nginx without split and no SCRIPT_FILENAME: DOCUMENT_ROOT + SCRIPT_NAME names the .wsgi',
    vars: nginx({ SCRIPT_NAME: '/blog/app.wsgi/post/1', REQUEST_URI: '/blog/app.wsgi/post/1' }),
    out: { SCRIPT_NAME: '/blog/app.wsgi', PATH_INFO: '/post/1', appFile: `${D}/blog/app.wsgi`, rule: 'nginx-no-split' },
  },
  {
    name: '#11 nginx without split, SCRIPT_FILENAME fixed to the app: app file known, mount not',
    vars: nginx({ SCRIPT_NAME: '/app/foo', REQUEST_URI: '/app/foo', SCRIPT_FILENAME: '/home/u/app.wsgi' }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/app/foo', appFile: '/home/u/app.wsgi', rule: 'nginx-no-split' },
  },
  {
    name: '#12 nginx at the root: SCRIPT_NAME "" and PATH_INFO $fastcgi_script_name',
    vars: nginx({ SCRIPT_NAME: '', PATH_INFO: '/foo', REQUEST_URI: '/foo?x=1' }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/foo', appFile: null, rule: 'direct' },
  },
  {
    name: '#13 nginx fastcgi_split_path_info ^(.+?\\.wsgi)(/.*)$',
    vars: nginx({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
    }),
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo', appFile: `${D}/app.wsgi`, rule: 'direct' },
  },
  {
    name: '#13 nginx split regex fails on %0a: SCRIPT_NAME is the whole path, PATH_INFO empty',
    vars: nginx({
      SCRIPT_NAME: '/app.wsgi/foo\nbar',
      PATH_INFO: '',
      REQUEST_URI: '/app.wsgi/foo%0abar?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi/foo\nbar`,
    }),
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo\nbar', appFile: `${D}/app.wsgi`, rule: 'nginx-no-split' },
  },
  {
    name: '#13 nginx split ^(/tcp)(/.*)$ for a prefix, the prefix itself: PATH_INFO sent empty, the pair stands',
    vars: nginx({ SCRIPT_NAME: '/tcp', PATH_INFO: '', REQUEST_URI: '/tcp?x=1', SCRIPT_FILENAME: `${D}/tcp` }),
    out: { SCRIPT_NAME: '/tcp', PATH_INFO: '', appFile: null, rule: 'direct' },
  },
  {
    name: '#13 nginx split for a prefix with a fixed SCRIPT_FILENAME, the prefix itself',
    vars: nginx({ SCRIPT_NAME: '/blog', PATH_INFO: '', REQUEST_URI: '/blog', SCRIPT_FILENAME: '/home/u/app.wsgi' }),
    out: { SCRIPT_NAME: '/blog', PATH_INFO: '', appFile: '/home/u/app.wsgi', rule: 'script-alias' },
  },
  {
    name: '#13 nginx try_files reset $fastcgi_path_info: PATH_INFO from REQUEST_URI',
    vars: nginx({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '',
      REQUEST_URI: '/app.wsgi/foo/%C3%A9?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
    }),
    out: {
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo/\xc3\xa9',
      appFile: `${D}/app.wsgi`,
      rule: 'pathinfo-from-request-uri',
    },
  },
  {
    name: '#14 nginx fastcgi_index on "/dir/"',
    vars: nginx({
      SCRIPT_NAME: '/dir/index.wsgi',
      REQUEST_URI: '/dir/?x=1',
      SCRIPT_FILENAME: `${D}/dir/index.wsgi`,
    }),
    out: { SCRIPT_NAME: '/dir', PATH_INFO: '/', appFile: `${D}/dir/index.wsgi`, rule: 'directory-index' },
  },

  // lighttpd, uWSGI, IIS
  {
    name: '#15 lighttpd prefix "/": no way to tell from the variables, left as sent',
    vars: lighttpd({
      SCRIPT_NAME: '/foo',
      PATH_INFO: '/bar',
      REQUEST_URI: '/foo/bar?x=1',
      SCRIPT_FILENAME: `${D}/foo`,
    }),
    out: { SCRIPT_NAME: '/foo', PATH_INFO: '/bar', appFile: null, rule: 'direct' },
  },
  {
    name: '#15 lighttpd prefix "/" with mount "": SCRIPT_NAME "" and the whole path',
    vars: lighttpd({
      SCRIPT_NAME: '/foo',
      PATH_INFO: '/bar',
      PATH_TRANSLATED: `${D}/bar`,
      REQUEST_URI: '/foo/bar?x=1',
      SCRIPT_FILENAME: `${D}/foo`,
    }),
    mount: '',
    out: {
      SCRIPT_NAME: '',
      PATH_INFO: '/foo/bar',
      appFile: null,
      rule: 'mount-setting',
      PATH_TRANSLATED: `${D}/foo/bar`,
    },
  },
  {
    name: '#15 lighttpd prefix "/" with fix-root-scriptname',
    vars: lighttpd({ SCRIPT_NAME: '', PATH_INFO: '/foo/bar', REQUEST_URI: '/foo/bar?x=1' }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/foo/bar', appFile: null, rule: 'direct' },
  },
  {
    name: '#15 lighttpd prefix "/", request "/" (SCRIPT_NAME "/")',
    vars: lighttpd({ SCRIPT_NAME: '/', REQUEST_URI: '/' }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/', appFile: null, rule: 'trailing-slash' },
  },
  {
    name: '#16 lighttpd prefix "/cgi-bin/" with mount "/cgi-bin"',
    vars: lighttpd({ SCRIPT_NAME: '/cgi-bin/foo', PATH_INFO: '/bar', REQUEST_URI: '/cgi-bin/foo/bar' }),
    mount: '/cgi-bin/',
    out: { SCRIPT_NAME: '/cgi-bin', PATH_INFO: '/foo/bar', appFile: null, rule: 'mount-setting' },
  },
  {
    name: '#16 lighttpd prefix "/cgi-bin/" without a mount: left as sent',
    vars: lighttpd({ SCRIPT_NAME: '/cgi-bin/foo', PATH_INFO: '/bar', REQUEST_URI: '/cgi-bin/foo/bar' }),
    out: { SCRIPT_NAME: '/cgi-bin/foo', PATH_INFO: '/bar', appFile: null, rule: 'direct' },
  },
  {
    name: '#17 lighttpd prefix "/app"',
    vars: lighttpd({ SCRIPT_NAME: '/app', PATH_INFO: '/foo/bar', REQUEST_URI: '/app/foo/bar?x=1' }),
    out: { SCRIPT_NAME: '/app', PATH_INFO: '/foo/bar', appFile: null, rule: 'direct' },
  },
  {
    name: '#17 lighttpd prefix "/app", request "/app" (empty PATH_INFO is real here)',
    vars: lighttpd({ SCRIPT_NAME: '/app', REQUEST_URI: '/app', SCRIPT_FILENAME: `${D}/app` }),
    out: { SCRIPT_NAME: '/app', PATH_INFO: '', appFile: null, rule: 'direct' },
  },
  {
    name: '#18 lighttpd .wsgi extension, check-local',
    vars: lighttpd({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
    }),
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo', appFile: `${D}/app.wsgi`, rule: 'direct' },
  },
  {
    name: '#18 lighttpd broken-scriptfilename: SCRIPT_FILENAME carries PATH_INFO',
    vars: lighttpd({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi/foo`,
    }),
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo', appFile: `${D}/app.wsgi`, rule: 'direct' },
  },
  {
    name: '#19 SCRIPT_NAME with a trailing slash ("/app/" + "/")',
    vars: { SCRIPT_NAME: '/app/', PATH_INFO: '/', REQUEST_URI: '/app/' },
    out: { SCRIPT_NAME: '/app', PATH_INFO: '/', appFile: null, rule: 'trailing-slash' },
  },
  {
    name: '#20 SCRIPT_NAME "/" at the root',
    vars: { SCRIPT_NAME: '/', PATH_INFO: '/x', REQUEST_URI: '/x' },
    out: { SCRIPT_NAME: '', PATH_INFO: '/x', appFile: null, rule: 'trailing-slash' },
  },
  {
    name: '#21 PATH_INFO repeats SCRIPT_NAME and REQUEST_URI proves it',
    vars: nginx({ SCRIPT_NAME: '/test', PATH_INFO: '/test/foo', REQUEST_URI: '/test/foo' }),
    out: { SCRIPT_NAME: '/test', PATH_INFO: '/foo', appFile: null, rule: 'iis-duplicate' },
  },
  {
    name: '#21 PATH_INFO starting like SCRIPT_NAME but REQUEST_URI has both: left alone',
    vars: nginx({ SCRIPT_NAME: '/test', PATH_INFO: '/test/foo', REQUEST_URI: '/test/test/foo' }),
    out: { SCRIPT_NAME: '/test', PATH_INFO: '/test/foo', appFile: null, rule: 'direct' },
  },
  {
    name: '#22 IIS CGI without allowPathInfo',
    vars: {
      SERVER_SOFTWARE: 'Microsoft-IIS/10.0',
      SCRIPT_NAME: '/app.py',
      PATH_INFO: '/app.py/foo',
      PATH_TRANSLATED: 'C:\\inetpub\\wwwroot\\app.py\\foo',
      SCRIPT_FILENAME: 'C:\\inetpub\\wwwroot\\app.py',
    },
    ext: ['.py'],
    out: {
      SCRIPT_NAME: '/app.py',
      PATH_INFO: '/foo',
      appFile: 'C:\\inetpub\\wwwroot\\app.py',
      rule: 'iis-duplicate',
      PATH_TRANSLATED: null,
    },
  },

  // Encoding, mount, odd input
  {
    name: 'percent-encoded REQUEST_URI with é and an encoded query',
    vars: apache({
      SCRIPT_NAME: '/site.wsgi',
      PATH_INFO: bytes('/café/x'),
      REQUEST_URI: '/caf%C3%A9/x?q=%2F',
      QUERY_STRING: 'q=%2F',
    }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/caf\xc3\xa9/x', appFile: null, rule: 'rewrite-hidden-script' },
  },
  {
    name: 'non-ASCII mount from settings text',
    vars: apache({ SCRIPT_NAME: bytes('/café/app.wsgi'), PATH_INFO: '/x', REQUEST_URI: '/caf%c3%a9/x' }),
    mount: '/café',
    out: { SCRIPT_NAME: '/caf\xc3\xa9', PATH_INFO: '/x', appFile: null, rule: 'mount-setting' },
  },
  {
    name: 'mount overrides the Action layout, the layout still names the app',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/app.wsgi/foo',
      PATH_TRANSLATED: `${D}/app.wsgi/foo`,
      REDIRECT_URL: '/app.wsgi/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
    }),
    mount: '/app.wsgi',
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo', appFile: `${D}/app.wsgi`, rule: 'mount-setting' },
  },
  {
    name: 'mount "/" is the root',
    vars: nginx({ SCRIPT_NAME: '/a/b', REQUEST_URI: '/a/b' }),
    mount: '/',
    out: { SCRIPT_NAME: '', PATH_INFO: '/a/b', appFile: null, rule: 'mount-setting' },
  },
  {
    name: 'mount without REQUEST_URI: the path is SCRIPT_NAME + PATH_INFO',
    vars: { SCRIPT_NAME: '/app', PATH_INFO: '/x/y' },
    mount: '/app/x',
    out: { SCRIPT_NAME: '/app/x', PATH_INFO: '/y', appFile: null, rule: 'mount-setting' },
  },
  {
    name: '".." in REQUEST_URI is resolved before it becomes PATH_INFO',
    vars: nginx({ SCRIPT_NAME: '/app.wsgi', PATH_INFO: '', REQUEST_URI: '/app.wsgi/a/../b/%2e/c' }),
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/b/c', appFile: null, rule: 'pathinfo-from-request-uri' },
  },
  {
    name: '%2e%2e cannot take a hidden-script mount above the request path',
    vars: apache({ SCRIPT_NAME: '/blog/site.wsgi', PATH_INFO: '/x', REQUEST_URI: '/blog/%2E%2E/x' }),
    out: { SCRIPT_NAME: '', PATH_INFO: '/x', appFile: null, rule: 'rewrite-hidden-script' },
  },
  // What Apache really sends behind the .htaccess rule of docs/apache-cgi.md (mod_rewrite sets
  // SCRIPT_URL/SCRIPT_URI on both passes; the internal redirect hands the first pass's on as
  // REDIRECT_*). Django takes its prefix from SCRIPT_URL: it must not name the script.
  {
    name: '#3 rewrite hides app.wsgi in /blog/: SCRIPT_URL and SCRIPT_URI named the script (Django)',
    vars: apache({
      SCRIPT_NAME: '/blog/app.wsgi',
      PATH_INFO: '/admin/login/',
      PATH_TRANSLATED: `${D}/admin/login/`,
      REQUEST_URI: '/blog/admin/login/?next=/blog/admin/',
      SCRIPT_FILENAME: `${D}/blog/app.wsgi`,
      SCRIPT_URL: '/blog/app.wsgi/admin/login/',
      SCRIPT_URI: 'http://127.0.0.1:8080/blog/app.wsgi/admin/login/',
      REDIRECT_URL: '/blog/admin/login/',
      REDIRECT_SCRIPT_URL: '/blog/admin/login/',
      REDIRECT_SCRIPT_URI: 'http://127.0.0.1:8080/blog/admin/login/',
      REDIRECT_STATUS: '200',
    }),
    out: {
      SCRIPT_NAME: '/blog',
      PATH_INFO: '/admin/login/',
      appFile: `${D}/blog/app.wsgi`,
      rule: 'rewrite-hidden-script',
      urls: {
        SCRIPT_URL: '/blog/admin/login/',
        SCRIPT_URI: 'http://127.0.0.1:8080/blog/admin/login/',
        REDIRECT_URL: '/blog/admin/login/',
        REDIRECT_SCRIPT_URL: '/blog/admin/login/',
        REDIRECT_SCRIPT_URI: 'http://127.0.0.1:8080/blog/admin/login/',
      },
    },
  },
  {
    name: '#3 the same rule at /blog (the mount itself, PATH_INFO ""): SCRIPT_URL is the mount',
    vars: apache({
      SCRIPT_NAME: '/blog/app.wsgi',
      PATH_INFO: '/',
      REQUEST_URI: '/blog/',
      SCRIPT_FILENAME: `${D}/blog/app.wsgi`,
      SCRIPT_URL: '/blog/app.wsgi/',
      SCRIPT_URI: 'https://example.org/blog/app.wsgi/',
      REDIRECT_URL: '/blog/',
    }),
    out: {
      SCRIPT_NAME: '/blog',
      PATH_INFO: '/',
      appFile: `${D}/blog/app.wsgi`,
      rule: 'rewrite-hidden-script',
      urls: { SCRIPT_URL: '/blog/', SCRIPT_URI: 'https://example.org/blog/', REDIRECT_URL: '/blog/' },
    },
  },
  {
    name: '#5 Action handler + rewrite, two redirects: every REDIRECT_* level agrees',
    vars: apache({
      ...ACTION,
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      PATH_INFO: '/blog/app.wsgi/post/1',
      PATH_TRANSLATED: `${D}/blog/app.wsgi/post/1`,
      REDIRECT_URL: '/blog/app.wsgi/post/1',
      REDIRECT_SCRIPT_URL: '/blog/app.wsgi/post/1',
      REDIRECT_REDIRECT_URL: '/blog/post/1',
      REDIRECT_REDIRECT_SCRIPT_URL: '/blog/post/1',
      SCRIPT_URL: '/cgi-bin/wsgi-cgi/blog/app.wsgi/post/1',
      REQUEST_URI: '/blog/post/1?x=1',
    }),
    out: {
      SCRIPT_NAME: '/blog',
      PATH_INFO: '/post/1',
      appFile: `${D}/blog/app.wsgi`,
      rule: 'action-handler',
      urls: {
        SCRIPT_URL: '/blog/post/1',
        REDIRECT_URL: '/blog/post/1',
        REDIRECT_SCRIPT_URL: '/blog/post/1',
        REDIRECT_REDIRECT_URL: '/blog/post/1',
        REDIRECT_REDIRECT_SCRIPT_URL: '/blog/post/1',
      },
    },
  },
  {
    name: '#7 ScriptAlias with RewriteEngine on: SCRIPT_URL already agrees and is kept as sent',
    vars: apache({
      SCRIPT_NAME: '/app',
      PATH_INFO: '/foo',
      REQUEST_URI: '/app/foo?x=1',
      SCRIPT_FILENAME: '/home/u/app.wsgi',
      SCRIPT_URL: '/app/foo',
      SCRIPT_URI: 'http://example.org/app/foo',
    }),
    out: {
      SCRIPT_NAME: '/app',
      PATH_INFO: '/foo',
      appFile: '/home/u/app.wsgi',
      rule: 'script-alias',
      urls: { SCRIPT_URL: '/app/foo', SCRIPT_URI: 'http://example.org/app/foo' },
    },
  },
  {
    name: 'nginx rewrite of /blog/ onto app.wsgi, split: DOCUMENT_URI ($document_uri) follows the repair',
    vars: nginx({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/post/1',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
      REQUEST_URI: '/blog/post/1?x=1',
      DOCUMENT_URI: '/app.wsgi/post/1',
    }),
    out: {
      SCRIPT_NAME: '/blog',
      PATH_INFO: '/post/1',
      appFile: `${D}/app.wsgi`,
      rule: 'rewrite-hidden-script',
      urls: { DOCUMENT_URI: '/blog/post/1' },
    },
  },
  {
    name: 'lighttpd url.rewrite onto app.wsgi: REDIRECT_URI (the rewritten target) is removed',
    vars: lighttpd({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/post/1',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
      REQUEST_URI: '/blog/post/1?x=1',
      REDIRECT_URI: '/app.wsgi/post/1?x=1',
    }),
    out: {
      SCRIPT_NAME: '/blog',
      PATH_INFO: '/post/1',
      appFile: `${D}/app.wsgi`,
      rule: 'rewrite-hidden-script',
      urls: {},
    },
  },
  {
    name: 'lighttpd REDIRECT_URI that agrees (percent-encoded, with its query) is kept',
    vars: lighttpd({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/caf\xc3\xa9',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
      REQUEST_URI: '/app.wsgi/caf%C3%A9?x=1',
      REDIRECT_URI: '/app.wsgi/caf%C3%A9?x=1',
    }),
    out: {
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/caf\xc3\xa9',
      appFile: `${D}/app.wsgi`,
      rule: 'direct',
      urls: { REDIRECT_URI: '/app.wsgi/caf%C3%A9?x=1' },
    },
  },
  {
    name: 'no REQUEST_URI at all (a minimal CGI server): the pair stands',
    vars: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo' },
    out: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/foo', appFile: null, rule: 'direct' },
  },
  {
    name: 'plain CGI program at SCRIPT_NAME with no PATH_INFO (not nginx-no-split)',
    vars: {
      SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
      REQUEST_URI: '/cgi-bin/wsgi-cgi',
      SCRIPT_FILENAME: '/usr/lib/cgi-bin/wsgi-cgi',
    },
    out: { SCRIPT_NAME: '/cgi-bin/wsgi-cgi', PATH_INFO: '', appFile: null, rule: 'direct' },
  },
];

function run(row: Pick<Row, 'vars' | 'mount' | 'ext'>, files: (p: string) => boolean = isFile) {
  const input: RepairInput = { vars: row.vars, mount: row.mount ?? null, isFile: files };
  if (row.ext) input.appExtensions = row.ext;
  return repairEnviron(input);
}

function failure(fn: () => unknown): WsgikitError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WsgikitError);
    return err as WsgikitError;
  }
  throw new Error('expected an error');
}

describe('repairEnviron: the layouts of docs/server-layouts.md', () => {
  it.each(ROWS.map((row) => [row.name, row] as const))('%s', (_name, row) => {
    const before = JSON.stringify(row.vars);
    const result = run(row);
    expect({
      SCRIPT_NAME: result.environ.SCRIPT_NAME,
      PATH_INFO: result.environ.PATH_INFO,
      appFile: result.appFile,
      rule: result.rule,
    }).toEqual({
      SCRIPT_NAME: row.out.SCRIPT_NAME,
      PATH_INFO: row.out.PATH_INFO,
      appFile: row.out.appFile,
      rule: row.out.rule,
    });
    if (row.out.PATH_TRANSLATED !== undefined) {
      expect(result.environ.PATH_TRANSLATED ?? null).toBe(row.out.PATH_TRANSLATED);
    }
    if (row.out.SCRIPT_FILENAME !== undefined) expect(result.environ.SCRIPT_FILENAME).toBe(row.out.SCRIPT_FILENAME);
    // The public path is rebuilt, and nothing else was touched.
    expect(RULE_IDS).toContain(result.rule);
    expect(JSON.stringify(row.vars)).toBe(before);
    for (const [key, value] of Object.entries(row.vars)) {
      if (!['SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED', 'SCRIPT_FILENAME', ...URL_VARS].includes(key)) {
        expect(result.environ[key]).toBe(value);
      }
    }
    // Every other variable that names the URL says SCRIPT_NAME + PATH_INFO, or is gone.
    const path = result.environ.SCRIPT_NAME + result.environ.PATH_INFO;
    for (const key of URL_VARS) {
      const value = result.environ[key];
      if (value === undefined) continue;
      if (key.endsWith('SCRIPT_URI')) expect(value.replace(/^[a-z]+:\/\/[^/]*/, ''), key).toBe(path);
      else if (key === 'REDIRECT_URI') expect(requestUriPath(value), key).toBe(path);
      else expect(value, key).toBe(path);
    }
    if (row.out.urls !== undefined) {
      expect(
        Object.fromEntries(URL_VARS.filter((k) => k in result.environ).map((k) => [k, result.environ[k]])),
      ).toEqual(row.out.urls);
    }
    expect(result.environ.SCRIPT_NAME.endsWith('/')).toBe(false);
    for (const ch of result.environ.SCRIPT_NAME + result.environ.PATH_INFO) expect(ch.charCodeAt(0)).toBeLessThan(256);
    // The rule's own words, made only now that they are asked for, come after the input line.
    const ruleLine = result.explain.find((line) => line.startsWith('rule '));
    expect(ruleLine).toMatch(new RegExp(`^rule ${result.rule}: \\S`));
    expect(result.explain.at(-1)).toMatch(/^out: SCRIPT_NAME=/);
  });
});

describe('docs/server-layouts.md', () => {
  const page = readFileSync(new URL('../../docs/server-layouts.md', import.meta.url), 'utf8');
  const docRows = new Map<number, string>();
  for (const line of page.split('\n')) {
    const m = /^\| (\d+) \|/.exec(line);
    if (m) docRows.set(Number(m[1]), line);
  }

  it('has a row for each numbered test row, naming the rule the test expects', () => {
    for (const row of ROWS) {
      const n = /^#(\d+) /.exec(row.name)?.[1];
      if (n === undefined) continue;
      expect(docRows.get(Number(n)), `row #${n}`).toContain(`\`${row.out.rule}\``);
    }
  });

  it('names every rule', () => {
    for (const id of RULE_IDS) expect(page).toContain(`\`${id}\``);
  });
});

describe('repairEnviron: the request path is checked', () => {
  it('a request outside the mount → WSGIKIT_APP_NOT_FOUND', () => {
    const err = failure(() =>
      run({ vars: nginx({ SCRIPT_NAME: '/other/x', REQUEST_URI: '/other/x' }), mount: '/app' }),
    );
    expect(err.code).toBe('WSGIKIT_APP_NOT_FOUND');
    expect(err.status).toBe(404);
  });

  it('a prefix that only looks like the mount ("/apps" for "/app") is outside it', () => {
    const err = failure(() => run({ vars: nginx({ SCRIPT_NAME: '/apps/x', REQUEST_URI: '/apps/x' }), mount: '/app' }));
    expect(err.code).toBe('WSGIKIT_APP_NOT_FOUND');
  });

  it('%2e%2e out of the mount → WSGIKIT_APP_NOT_FOUND, never a PATH_INFO with ".."', () => {
    const err = failure(() =>
      run({ vars: nginx({ SCRIPT_NAME: '/app/x', REQUEST_URI: '/app/%2e%2e/secret' }), mount: '/app' }),
    );
    expect(err.code).toBe('WSGIKIT_APP_NOT_FOUND');
  });

  it('".." above the root of REQUEST_URI → WSGIKIT_BAD_REQUEST', () => {
    const err = failure(() =>
      run({ vars: apache({ SCRIPT_NAME: '/site.wsgi', PATH_INFO: '/x', REQUEST_URI: '/%2e%2e/%2E%2E/etc/passwd' }) }),
    );
    expect(err.code).toBe('WSGIKIT_BAD_REQUEST');
  });

  it('".." in a PATH_INFO the server sent cannot climb above SCRIPT_NAME', () => {
    const err = failure(() => run({ vars: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/../../etc/passwd' } }));
    expect(err.code).toBe('WSGIKIT_BAD_REQUEST');
    expect(run({ vars: { SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/a/../b' } }).environ.PATH_INFO).toBe('/b');
  });

  it('%00 in REQUEST_URI → WSGIKIT_BAD_REQUEST', () => {
    const err = failure(() =>
      run({ vars: nginx({ SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/a', REQUEST_URI: '/app.wsgi/a%00.txt' }) }),
    );
    expect(err.code).toBe('WSGIKIT_BAD_REQUEST');
  });

  it('a malformed escape in REQUEST_URI → WSGIKIT_BAD_REQUEST', () => {
    const err = failure(() => run({ vars: nginx({ SCRIPT_NAME: '/app.wsgi', REQUEST_URI: '/app.wsgi/100%' }) }));
    expect(err.code).toBe('WSGIKIT_BAD_REQUEST');
  });

  it('a mount that does not start with "/" → WSGIKIT_SETTINGS_INVALID', () => {
    const err = failure(() => run({ vars: { SCRIPT_NAME: '/x' }, mount: 'app' }));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
  });

  it('absolute-form REQUEST_URI is read for its path', () => {
    const r = run({
      vars: apache({ SCRIPT_NAME: '/site.wsgi', PATH_INFO: '/p', REQUEST_URI: 'http://example.org/p?x=1' }),
    });
    expect([r.environ.SCRIPT_NAME, r.environ.PATH_INFO]).toEqual(['', '/p']);
  });
});

describe('repairEnviron: other variables', () => {
  it('returns a new environ and keeps every other key', () => {
    const vars = apache({
      SCRIPT_NAME: '/site.wsgi',
      PATH_INFO: '/foo',
      REQUEST_URI: '/foo',
      HTTP_HOST: 'example.org',
      HTTP_COOKIE: 'a=1',
    });
    const r = run({ vars });
    expect(r.environ).not.toBe(vars);
    expect(r.environ).toEqual({ ...vars, SCRIPT_NAME: '', PATH_INFO: '/foo' });
  });

  it('a copy inherits nothing, and a variable named __proto__ stays one', () => {
    const vars = apache({ SCRIPT_NAME: '/site.wsgi', PATH_INFO: '/foo', REQUEST_URI: '/foo' });
    Object.defineProperty(vars, '__proto__', { value: 'x', enumerable: true, writable: true, configurable: true });
    const r = run({ vars });
    expect(r.environ).not.toBe(vars);
    expect('constructor' in r.environ).toBe(false);
    expect(Object.getOwnPropertyDescriptor(r.environ, '__proto__')?.value).toBe('x');
  });

  it('copies of one layout share one V8 map, request after request', () => {
    // A copy made by a spread and then given variables made new maps on every request (V8 11),
    // and every later read of the environ missed its inline cache. Checked with V8's own
    // %HaveSameMap, in a child that runs the built repair.
    const repairJs = fileURLToPath(new URL('../../dist/environ/repair.js', import.meta.url));
    const script = `
      import { repairEnviron } from ${JSON.stringify(repairJs)};
      let previous = null, differ = 0;
      for (let i = 0; i < 50; i++) {
        // No PATH_INFO sent: the repair adds it to its copy.
        const vars = { SERVER_SOFTWARE: 'Apache/2.4', SCRIPT_NAME: '/site.wsgi', REQUEST_URI: '/site.wsgi/x',
          SCRIPT_FILENAME: '${D}/site.wsgi', DOCUMENT_ROOT: '${D}', HTTP_HOST: 'h' + i };
        const { environ } = repairEnviron({ vars, mount: null, isFile: () => true });
        if (environ === vars) process.exit(3);
        if (previous !== null && !%HaveSameMap(previous, environ)) differ++;
        previous = environ;
      }
      process.stdout.write(String(differ));`;
    const child = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.status, child.stderr).toBe(0);
    expect(Number(child.stdout)).toBe(0);
  });

  it('drops PATH_TRANSLATED when PATH_INFO changed and there is no DOCUMENT_ROOT', () => {
    const r = run({
      vars: {
        ...ACTION,
        SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
        PATH_INFO: '/app.wsgi/foo',
        PATH_TRANSLATED: `${D}/app.wsgi/foo`,
        REQUEST_URI: '/app.wsgi/foo',
      },
    });
    expect(r.rule).toBe('action-handler');
    expect('PATH_TRANSLATED' in r.environ).toBe(false);
  });

  it('does not add PATH_TRANSLATED the server did not send', () => {
    const r = run({ vars: nginx({ SCRIPT_NAME: '/app.wsgi', PATH_INFO: '', REQUEST_URI: '/app.wsgi/x' }) });
    expect(r.environ.PATH_INFO).toBe('/x');
    expect('PATH_TRANSLATED' in r.environ).toBe(false);
  });

  it('takes other app extensions', () => {
    const r = run({
      vars: apache({
        ...ACTION,
        SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
        PATH_INFO: '/yourapplication.fcgi/x',
        PATH_TRANSLATED: `${D}/yourapplication.fcgi/x`,
        REDIRECT_URL: '/yourapplication.fcgi/x',
        REQUEST_URI: '/yourapplication.fcgi/x',
      }),
      ext: ['.wsgi', '.FCGI'],
    });
    expect([r.environ.SCRIPT_NAME, r.environ.PATH_INFO, r.appFile]).toEqual([
      '/yourapplication.fcgi',
      '/x',
      `${D}/yourapplication.fcgi`,
    ]);
  });
});

describe('repairEnviron: the disk is looked at sparingly', () => {
  it('looks up only app-named prefixes, and at most 8 of them', () => {
    const asked: string[] = [];
    const many = Array.from({ length: 40 }, (_, i) => `/x${i}.wsgi`).join('');
    const r = run(
      {
        vars: apache({
          ...ACTION,
          SCRIPT_NAME: '/cgi-bin/wsgi-cgi',
          PATH_INFO: many,
          PATH_TRANSLATED: D + many,
          REDIRECT_URL: many,
          REQUEST_URI: many,
        }),
      },
      (p) => {
        asked.push(p);
        return false;
      },
    );
    expect(r.rule).toBe('rewrite-hidden-script');
    expect(asked.length).toBeLessThanOrEqual(8);
  });

  it('a direct request with SCRIPT_FILENAME ending in .wsgi needs no lookup', () => {
    let asked = 0;
    run(ROWS[0]!, () => {
      asked++;
      return true;
    });
    expect(asked).toBe(0);
  });
});

describe('repairEnviron: explain', () => {
  it('names what came in, the rule and why, and what goes out', () => {
    const r = run(ROWS.find((row) => row.name.startsWith('#5 Apache Action'))!);
    expect(r.explain[0]).toBe(
      `in: SCRIPT_NAME="/cgi-bin/wsgi-cgi" PATH_INFO="/app.wsgi/foo" REQUEST_URI="/app.wsgi/foo?x=1" ` +
        `PATH_TRANSLATED="${D}/app.wsgi/foo" SCRIPT_FILENAME="/usr/lib/cgi-bin/wsgi-cgi" DOCUMENT_ROOT="${D}" ` +
        `REDIRECT_URL="/app.wsgi/foo" REDIRECT_HANDLER="wsgi-script" SERVER_SOFTWARE="Apache/2.4.62%20(Debian)"`,
    );
    expect(r.explain[1]).toMatch(/^rule action-handler: /);
    expect(r.explain.at(-1)).toBe(
      `out: SCRIPT_NAME="/app.wsgi" PATH_INFO="/foo" PATH_TRANSLATED="${D}/foo" app="${D}/app.wsgi"`,
    );
  });

  it('says which URL-naming variables it changed or removed, and to what', () => {
    const django = run(ROWS.find((row) => row.name.includes('(Django)'))!);
    const lines = django.explain.join('\n');
    expect(lines).toContain(
      'SCRIPT_URL "/blog/app.wsgi/admin/login/" → "/blog/admin/login/", to agree with SCRIPT_NAME + PATH_INFO',
    );
    expect(lines).not.toContain('REDIRECT_URL "'); // it agreed
    const lighty = run(ROWS.find((row) => row.name.startsWith('lighttpd url.rewrite'))!);
    expect(lighty.explain.join('\n')).toContain('REDIRECT_URI "/app.wsgi/post/1?x=1" removed');
    const untouched = run(ROWS.find((row) => row.name.startsWith('#7 ScriptAlias with RewriteEngine'))!);
    expect(untouched.explain.join('\n')).not.toContain('SCRIPT_URL "');
  });

  it('shows non-ASCII and control bytes as %XX', () => {
    const r = run(ROWS.find((row) => row.name.includes('%0a'))!);
    expect(r.explain.at(-1)).toContain('PATH_INFO="/foo%0Abar"');
  });

  it("says why a rule passed, and tells how to fix lighttpd's root prefix", () => {
    const virtual = run(ROWS.find((row) => row.name.startsWith('#6'))!);
    expect(virtual.explain.join('\n')).toContain('names no existing app file');
    const lighty = run(ROWS.find((row) => row.name.startsWith('#15 lighttpd prefix "/": no way'))!);
    expect(lighty.explain.join('\n')).toContain('fix-root-scriptname');
  });
});

describe('RULE_IDS', () => {
  it('lists the rules in their order of precedence', () => {
    expect(RULE_IDS).toEqual([
      'mount-setting',
      'proxy-fcgi',
      'proxy-fcgi-no-pathinfo',
      'action-handler',
      'cgiwrap',
      'iis-duplicate',
      'nginx-no-split',
      'pathinfo-from-request-uri',
      'directory-index',
      'rewrite-hidden-script',
      'script-alias',
      'trailing-slash',
      'direct',
    ]);
  });
});

describe('hasAppExtension', () => {
  it('matches the extension in any case, as toLowerCase would, on a longer name', () => {
    const exts = ['.wsgi', '.py', '.été'];
    expect(hasAppExtension('app.wsgi', exts)).toBe(true);
    expect(hasAppExtension('APP.WSGI', exts)).toBe(true);
    expect(hasAppExtension('app.WsGi', exts)).toBe(true);
    expect(hasAppExtension('.wsgi', exts)).toBe(false); // the extension alone is no name
    expect(hasAppExtension('app.wsgix', exts)).toBe(false);
    expect(hasAppExtension('app.wsg[', exts)).toBe(false); // [ is 32 above {, not a letter
    expect(hasAppExtension('x.\u00c9T\u00c9', exts)).toBe(true); // latin-1 capitals: É
    expect(hasAppExtension('x.\u00e9t\u00d7', ['.\u00e9t\u00f7'])).toBe(false); // × is not a capital of ÷
    expect(hasAppExtension('app.wsg\u212a', ['.wsgk'])).toBe(true); // KELVIN SIGN lowers to k
  });
});
