// One table of requests, each run through every front end's own way into the per-request
// decisions (src/request/decide-request.ts): the FastCGI responder (wsgi-fcgi, with and without
// --app), the CGI Node entry, the user's CGI daemon for a request the native launcher relays, the
// daemon for one the Node entry relays repaired, and wsgi-run --layout. They must agree with the
// row, and so with each other, on the .wsgi that runs, SCRIPT_NAME and PATH_INFO, the owner, the
// explain lines and the refusal. The apps are real files with real settings; only the pools are
// stand-ins that record what they were handed.

import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { homeOf } from '../../src/app/locate.js';
import { resolveApp, type ResolvedApp } from '../../src/app/resolve-app.js';
import { emptyHostSettings, type HostSettings } from '../../src/app/settings.js';
import { decideCgiRequest } from '../../src/cgi/run-cgi.js';
import { isWsgikitError } from '../../src/errors.js';
import type { AppRequest, Environ, ResponseSink } from '../../src/exchange.js';
import { readCgiEnviron } from '../../src/environ/cgi.js';
import { defaultLogFile } from '../../src/logs/log-file-path.js';
import { layoutVars, type LayoutName } from '../../src/environ/layouts.js';
import { collectResponse, fastcgiRequest } from '../../src/fastcgi/client.js';
import { fastcgiResponder } from '../../src/fastcgi/responder.js';
import { createHttpFrontEnd } from '../../src/http/server.js';
import type { OpsLog } from '../../src/ops-log.js';
import { AppDirectory, type ServedApp } from '../../src/pool/app-directory.js';
import type { Pool } from '../../src/pool/pool.js';
import { cgiHostSettingsFile } from '../../src/request/cgi-front-end.js';
import { layoutHandler } from '../../src/request/layout-request.js';
import { LAUNCHER_PARAM, nodeEntryParams } from '../../src/request/relayed-cgi.js';

const ROOT = mkdtempSync(join(tmpdir(), 'wsgikit-decisions-'));
chmodSync(ROOT, 0o755);
const D = join(ROOT, 'www');
const TOKEN = 'owner-secret';
const OWNER_NET = '10.1.0.0/16';

/** The apps, by name under D, with their settings. */
const APPS: Record<string, string> = {
  'app.wsgi': '',
  'site.wsgi': '',
  'blog/site.wsgi': '',
  'café.wsgi': '',
  '日本.wsgi': '',
  'mounted.wsgi': 'mount = "/app"\n',
  'rooted.wsgi': 'mount = ""\n',
  'explained.wsgi': 'explain = true\n',
  'owned.wsgi': `owner_addresses = ["${OWNER_NET}"]\nowner_token_sha256 = "${sha256(TOKEN)}"\n`,
  'quiet.wsgi': `tracebacks = "never"\nowner_addresses = ["${OWNER_NET}"]\n`,
  'shared.wsgi': '',
};
for (const [name, settings] of Object.entries(APPS)) {
  const file = join(D, name);
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o755 });
  writeFileSync(file, 'def application(environ, start_response): pass\n', { mode: 0o644 });
  writeFileSync(`${file}.toml`, `log_dir = "${ROOT}/logs"\n${settings}`, { mode: 0o644 });
}
chmodSync(join(D, 'shared.wsgi'), 0o666); // anyone may write it: no host runs it
const HOST: HostSettings = { ...emptyHostSettings(), allowedRoots: [ROOT] };

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** PEP 3333 strings, as FastCGI carries them: "é" is C3 A9, two latin-1 characters. */
function bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

interface Row {
  name: string;
  /** The server's variables (text, as a CGI program's environment reads). */
  vars: Environ;
  /** A wsgi-run --layout row: the layout and the app; `vars` is then what that layout sends. */
  layout?: { name: LayoutName; app: string; path: string };
  /** The front end names the app (wsgi-cgi's argument, wsgi-fcgi --app): its name under D. */
  named?: string;
  /** What every front end must decide: the app under D, or the refusal's code. */
  out: { app: string; SCRIPT_NAME: string; PATH_INFO: string; owner: boolean; explain?: string } | { refused: string };
}

/** What wsgi-run's HTTP front end makes of a local request for `path`, before the layout. */
function local(path: string): Environ {
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: '127.0.0.1',
    SERVER_PORT: '80',
    REQUEST_METHOD: 'GET',
    SCRIPT_NAME: '',
    PATH_INFO: path,
    QUERY_STRING: '',
    REQUEST_URI: path,
    REMOTE_ADDR: '127.0.0.1',
  };
}

function layoutRow(name: LayoutName, app: string, path: string, out: Row['out'], named = false): Row {
  return {
    name: `${name}: ${app} ${path}`,
    vars: layoutVars(name, local(path), join(D, app)),
    layout: { name, app, path },
    named: named ? app : undefined,
    out,
  };
}

const apache = (vars: Environ): Environ => ({
  GATEWAY_INTERFACE: 'CGI/1.1',
  SERVER_SOFTWARE: 'Apache/2.4.62 (Debian)',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REQUEST_METHOD: 'GET',
  DOCUMENT_ROOT: D,
  QUERY_STRING: 'x=1',
  REMOTE_ADDR: '192.0.2.9',
  ...vars,
});
const nginx = (vars: Environ): Environ => ({ ...apache(vars), SERVER_SOFTWARE: 'nginx/1.22.1' });

/** A row's outcome when the request is served: the app under D, then what the app sees. */
function serves(app: string, SCRIPT_NAME: string, PATH_INFO: string, owner = false, explain?: string): Row['out'] {
  return explain === undefined
    ? { app, SCRIPT_NAME, PATH_INFO, owner }
    : { app, SCRIPT_NAME, PATH_INFO, owner, explain };
}

const ROWS: Row[] = [
  // The layouts wsgi-run replays (src/environ/layouts.ts), sent to the others as those servers would.
  layoutRow('action', 'app.wsgi', '/app.wsgi/foo/bar', serves('app.wsgi', '/app.wsgi', '/foo/bar')),
  layoutRow(
    'action',
    'explained.wsgi',
    '/explained.wsgi/x',
    serves('explained.wsgi', '/explained.wsgi', '/x', false, 'rule action-handler'),
  ),
  layoutRow('rewrite', 'site.wsgi', '/foo/bar', serves('site.wsgi', '', '/foo/bar')),
  layoutRow('nginx-split', 'app.wsgi', '/app.wsgi/x', serves('app.wsgi', '/app.wsgi', '/x')),
  layoutRow('nginx-no-split', 'mounted.wsgi', '/app/foo', serves('mounted.wsgi', '/app', '/foo'), true),
  layoutRow('nginx-no-split', 'mounted.wsgi', '/elsewhere', { refused: 'WSGIKIT_APP_NOT_FOUND' }, true),
  layoutRow('lighttpd-root', 'app.wsgi', '/foo/bar', serves('app.wsgi', '/foo', '/bar')),
  layoutRow('lighttpd-root', 'rooted.wsgi', '/foo/bar', serves('rooted.wsgi', '', '/foo/bar')),
  layoutRow('lighttpd-root', 'owned.wsgi', '/foo/bar', serves('owned.wsgi', '/foo', '/bar')),

  // Variables no wsgi-run layout makes: CGI and FastCGI only.
  {
    name: '#1 mod_cgi: /app.wsgi/foo',
    vars: apache({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/foo',
      REQUEST_URI: '/app.wsgi/foo?x=1',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
    }),
    out: serves('app.wsgi', '/app.wsgi', '/foo'),
  },
  {
    name: '#3 mod_rewrite hides site.wsgi in /blog/',
    vars: apache({
      SCRIPT_NAME: '/blog/site.wsgi',
      PATH_INFO: '/post/1',
      REQUEST_URI: '/blog/post/1?x=1',
      SCRIPT_FILENAME: `${D}/blog/site.wsgi`,
    }),
    out: serves('blog/site.wsgi', '/blog', '/post/1'),
  },
  // SCRIPT_FILENAME is decoded to the file's name; SCRIPT_NAME stays bytes.
  ...(
    [
      ['a UTF-8 file name', 'café', '/caf%C3%A9.wsgi/x'],
      ['a file name beyond latin-1', '日本', '/%E6%97%A5%E6%9C%AC.wsgi/x'],
    ] as const
  ).map(([name, stem, uri]): Row => ({
    name,
    vars: apache({
      SCRIPT_NAME: `/${stem}.wsgi`,
      PATH_INFO: '/x',
      REQUEST_URI: uri,
      SCRIPT_FILENAME: `${D}/${stem}.wsgi`,
    }),
    out: serves(`${stem}.wsgi`, bytes(`/${stem}.wsgi`), '/x'),
  })),
  {
    name: '#11 nginx, no split, --app with mount = "/app"',
    vars: nginx({ SCRIPT_NAME: '/app/foo', REQUEST_URI: '/app/foo?x=1' }),
    named: 'mounted.wsgi',
    out: serves('mounted.wsgi', '/app', '/foo'),
  },
  {
    name: 'no SCRIPT_FILENAME and no app named',
    vars: nginx({ SCRIPT_NAME: '/app/foo', REQUEST_URI: '/app/foo' }),
    out: { refused: 'WSGIKIT_APP_NOT_FOUND' },
  },
  {
    name: 'SCRIPT_FILENAME names no file',
    vars: nginx({ SCRIPT_NAME: '/gone.wsgi', REQUEST_URI: '/gone.wsgi', SCRIPT_FILENAME: `${D}/gone.wsgi` }),
    out: { refused: 'WSGIKIT_APP_NOT_FOUND' },
  },
  {
    name: 'a .wsgi anyone may write',
    vars: nginx({ SCRIPT_NAME: '/shared.wsgi', REQUEST_URI: '/shared.wsgi', SCRIPT_FILENAME: `${D}/shared.wsgi` }),
    out: { refused: 'WSGIKIT_APP_REFUSED' },
  },
  {
    name: 'a path that climbs above the root',
    vars: nginx({
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: '/x',
      REQUEST_URI: '/app.wsgi/../../../x',
      SCRIPT_FILENAME: `${D}/app.wsgi`,
    }),
    out: { refused: 'WSGIKIT_BAD_REQUEST' },
  },
  ...(
    [
      ['the owner by address', 'owned.wsgi', { REMOTE_ADDR: '10.1.2.3' }, true],
      ['the owner by address, IPv4-mapped', 'owned.wsgi', { REMOTE_ADDR: '::ffff:10.1.2.3' }, true],
      ['a stranger', 'owned.wsgi', { REMOTE_ADDR: '10.2.0.1' }, false],
      ['the owner by cookie', 'owned.wsgi', { HTTP_COOKIE: `a=b; wsgikit_owner=${TOKEN}` }, true],
      ['a wrong cookie', 'owned.wsgi', { HTTP_COOKIE: 'wsgikit_owner=guess' }, false],
      ['the owner, with tracebacks = "never"', 'quiet.wsgi', { REMOTE_ADDR: '10.1.2.3' }, false],
    ] as const
  ).map(([name, app, extra, owner]): Row => ({
    name,
    vars: nginx({
      SCRIPT_NAME: `/${app}`,
      PATH_INFO: '/',
      REQUEST_URI: `/${app}/`,
      SCRIPT_FILENAME: `${D}/${app}`,
      ...extra,
    }),
    out: { app, SCRIPT_NAME: `/${app}`, PATH_INFO: '/', owner },
  })),
];

// -----------------------------------------------------------------------------------------------
// What a front end made of a row, the same shape for all.

interface Outcome {
  app?: string;
  SCRIPT_NAME?: string;
  PATH_INFO?: string;
  owner?: boolean;
  explain?: string | null;
  refused?: string;
}

/** A pool that records what it was handed and answers 200. */
class RecordingPool {
  seen: Outcome | null = null;
  explain: string | null = null;
  readonly log = { write: (kind: string, text: string) => kind === 'explain' && (this.explain = text) };
  constructor(private readonly appFile: string) {}

  handle(request: AppRequest, sink: ResponseSink): void {
    const { SCRIPT_NAME, PATH_INFO } = request.environ;
    this.seen = { app: this.appFile, SCRIPT_NAME, PATH_INFO, owner: request.owner };
    sink.start('200 OK', [['Content-Type', 'text/plain']]);
    sink.end();
  }
}

const pools = new Map<string, RecordingPool>();
function poolOf(resolved: ResolvedApp): RecordingPool {
  const file = resolved.checked.file;
  if (!pools.has(file)) pools.set(file, new RecordingPool(file));
  return pools.get(file)!;
}

function recordingOps(warnings: Array<Record<string, unknown>>): OpsLog {
  return { info() {}, warn: (fields) => warnings.push(fields as Record<string, unknown>), error() {} };
}

/** The FastCGI responder with a real AppDirectory (the host's roots and settings), pools recorded. */
async function fastcgiServer(fixedApp: string | null, cgiDaemon: boolean) {
  const real = new AppDirectory({ host: HOST, allowedRoots: [], baseEnv: {}, ops: recordingOps([]) });
  const directory = {
    hostPages: null,
    resolve: (file: string, root: string | undefined) => real.resolve(file, root),
    pool: (resolved: ResolvedApp) => poolOf(resolved) as unknown as Pool,
    lookup: (file: string, root: string | undefined): ServedApp => {
      const resolved = real.resolve(file, root);
      return { resolved, pool: poolOf(resolved) as unknown as Pool };
    },
  } as unknown as AppDirectory;
  const warnings: Array<Record<string, unknown>> = [];
  const path = join(ROOT, `fcgi-${sockets++}.sock`);
  const open: net.Socket[] = [];
  const server = net.createServer((socket) => {
    open.push(socket);
    fastcgiResponder({
      directory,
      fixedApp,
      ops: recordingOps(warnings),
      maxConns: 10,
      cgiDaemon: cgiDaemon ? { hostFile: cgiHostSettingsFile(undefined) } : undefined,
    })(socket);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(async () => {
    for (const socket of open) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { path, warnings };
}
let sockets = 0;
const cleanups: Array<() => Promise<void>> = [];

/** The server's variables as FastCGI PARAMS carry them: bytes. */
function asParams(vars: Environ): Environ {
  const pairs: Environ = {};
  for (const [name, value] of Object.entries(vars)) pairs[name] = bytes(value);
  return pairs;
}

/** Sends `pairs` as PARAMS and reads back what the decision did. */
async function overFastcgi(
  server: { path: string; warnings: Array<Record<string, unknown>> },
  pairs: Environ,
): Promise<Outcome> {
  for (const pool of pools.values()) pool.seen = pool.explain = null;
  server.warnings.length = 0;
  const result = await collectResponse(fastcgiRequest(server.path, { params: pairs }));
  const refused = server.warnings.find((fields) => typeof fields.code === 'string');
  if (refused) return { refused: refused.code as string };
  const pool = [...pools.values()].find((p) => p.seen !== null);
  expect(pool, result.stdout.toString()).toBeDefined();
  return { ...pool!.seen, explain: pool!.explain };
}

const fcgiServers = new Map<string, Promise<{ path: string; warnings: Array<Record<string, unknown>> }>>();
function fcgiServer(fixedApp: string | null, cgiDaemon: boolean) {
  const key = `${fixedApp}|${cgiDaemon}`;
  if (!fcgiServers.has(key)) fcgiServers.set(key, fastcgiServer(fixedApp, cgiDaemon));
  return fcgiServers.get(key)!;
}

/** The CGI Node entry's decision, from its environment as readCgiEnviron reads it. */
function throughCgi(row: Row): Outcome {
  try {
    const decision = decideCgiRequest(readCgiEnviron(row.vars), row.named ? join(D, row.named) : null, HOST);
    const { SCRIPT_NAME, PATH_INFO } = decision.environ;
    const app = decision.served.resolved.checked.file;
    return { app, SCRIPT_NAME, PATH_INFO, owner: decision.owner, explain: decision.explain?.join('\n') ?? null };
  } catch (error) {
    if (!isWsgikitError(error)) throw error;
    return { refused: error.code };
  }
}

/** wsgi-run --layout on its app, as the command sets it up: explain on, every visitor the owner. */
const runServers = new Map<string, Promise<{ url: string; said: string[] }>>();
function wsgiRun(layout: LayoutName, app: string): Promise<{ url: string; said: string[] }> {
  const key = `${layout}|${app}`;
  if (!runServers.has(key)) {
    runServers.set(
      key,
      (async () => {
        const file = join(D, app);
        const resolved = resolveApp(file, { host: HOST, overrides: { explain: true }, allowedRoots: [D] });
        const said: string[] = [];
        const served = { resolved, pool: poolOf(resolved) as unknown as Pool };
        const server: Server = createHttpFrontEnd({
          handle: layoutHandler(layout, served, (line) => said.push(line)),
          mount: '',
          serverSoftware: 'wsgikit (test)',
          isOwner: () => true,
          view: {},
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
        const address = server.address() as net.AddressInfo;
        return { url: `http://127.0.0.1:${address.port}`, said };
      })(),
    );
  }
  return runServers.get(key)!;
}

async function throughWsgiRun(row: Row): Promise<Outcome> {
  const { name, app, path } = row.layout!;
  const run = await wsgiRun(name, app);
  for (const pool of pools.values()) pool.seen = null;
  run.said.length = 0;
  const res = await fetch(run.url + path, { headers: { accept: 'text/plain' } });
  const text = await res.text();
  if (res.status !== 200) return { refused: /Code: (\w+)/.exec(text)?.[1] ?? `HTTP ${res.status}` };
  const pool = [...pools.values()].find((p) => p.seen !== null)!;
  const explain = run.said.map((line) => line.replace(/^ {2}explain: /, '')).join('\n');
  return { ...pool.seen, explain: explain || null };
}

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(ROOT, { recursive: true, force: true });
  // The refusals of apps that exist went to their owner's default log, in this user's home.
  const home = homeOf(process.getuid!());
  for (const name of Object.keys(APPS)) rmSync(defaultLogFile(join(D, name), home), { force: true });
});

// -----------------------------------------------------------------------------------------------

type FrontEndName = 'wsgi-fcgi' | 'wsgi-cgi' | 'launcher to daemon' | 'Node entry to daemon' | 'wsgi-run --layout';

const FRONT_ENDS: Array<[FrontEndName, (row: Row) => Promise<Outcome | null>]> = [
  [
    'wsgi-fcgi',
    async (row) => overFastcgi(await fcgiServer(row.named ? join(D, row.named) : null, false), asParams(row.vars)),
  ],
  ['wsgi-cgi', async (row) => throughCgi(row)],
  [
    'launcher to daemon',
    async (row) => {
      const params: Environ = { ...row.vars, [LAUNCHER_PARAM]: '1' };
      if (row.named) params['=wsgikit.arg.1'] = join(D, row.named);
      return overFastcgi(await fcgiServer(null, true), asParams(params));
    },
  ],
  [
    'Node entry to daemon',
    async (row) => {
      // What the Node entry relays when it decided to serve (src/cgi/daemon.ts relay()).
      let decision;
      try {
        decision = decideCgiRequest(readCgiEnviron(row.vars), row.named ? join(D, row.named) : null, HOST);
      } catch {
        return null; // refused by the entry itself: nothing is relayed
      }
      const params = nodeEntryParams(decision.environ, decision.served.resolved.checked.file);
      return overFastcgi(await fcgiServer(null, true), params);
    },
  ],
  ['wsgi-run --layout', async (row) => (row.layout ? throughWsgiRun(row) : null)],
];

/** The row's expectation as `frontEnd` must meet it: wsgi-run shows everyone tracebacks and always explains. */
function expected(row: Row, frontEnd: FrontEndName): Outcome {
  const out = row.out;
  if ('refused' in out) return { refused: out.refused };
  const explain =
    frontEnd === 'Node entry to daemon' ? null : (out.explain ?? (frontEnd === 'wsgi-run --layout' ? 'rule' : null));
  return {
    app: join(D, out.app),
    SCRIPT_NAME: out.SCRIPT_NAME,
    PATH_INFO: out.PATH_INFO,
    owner: frontEnd === 'wsgi-run --layout' || out.owner,
    explain,
  };
}

describe.each(FRONT_ENDS)('per-request decisions through %s', (frontEnd, run) => {
  it.each(ROWS.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const outcome = await run(row);
    if (outcome === null) return; // this front end cannot be sent this row
    const want = expected(row, frontEnd);
    if (typeof want.explain === 'string') {
      expect(outcome.explain).toContain(want.explain);
      outcome.explain = want.explain;
    }
    expect(outcome).toEqual(want);
  });
});
