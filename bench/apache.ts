// The Apache targets, on 127.0.0.1, each its own Apache (Debian's apache2, mpm_event) started with
// the e2e tests' helper (test/helpers/servers.ts startApache), so that each one's processes and
// memory are its own:
//   - CGI (mod_cgid, the CGI module Debian enables under mpm_event): the site of
//     docs/apache-cgi.md (its layout 2, .wsgi files run by wsgi-cgi: the built command, the native
//     launcher when it was compiled, and the Node entry for comparison), wsgiref's CGIHandler
//     scripts beside it, and the same user's daemon reached directly through mod_proxy_fcgi;
//   - mod_fcgid starting wsgi-fcgi from the stub of docs/apache-mod-fcgid.md, and beside it the
//     classic drop-in: a Python `.fcgi` serving the listening socket on fd 0 itself, as flup's
//     WSGIServer().run() does (flup is neither in Debian nor reachable here, so the stdlib
//     FastCGI server of bench/floor/fcgi_server.py stands in for it);
//   - mod_wsgi in daemon mode (processes=2 threads=1 per app), the anchor.

import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SERVICE_NODE_FLAGS } from '../src/install-paths.js';
import { configFromGuide, freePort, mkdirs, NODE, startApache, WSGI_FCGI } from '../test/helpers/servers.js';
import { WSGI_CGI_BUILT, WSGI_CGI_COMMAND } from '../test/helpers/apache-cgi.js';
import { APPS, benchDir, moduleDir, MODULE, wsgiFile, wwwDataDir, type AppName } from './apps.js';
import { PYTHON } from './common.js';
import { floorFiles, FLOOR_NAME } from './floor.js';
import { WORKERS } from './nginx.js';
import { childrenOf, listProcesses, type ProcessSet } from './proc-memory.js';
import type { Target } from './targets.js';

export interface Side {
  stop(): Promise<void>;
}

/** Processes (and their children) whose command line contains every one of `parts`. */
function matching(...parts: string[]): number[] {
  return listProcesses()
    .filter((p) => parts.every((part) => p.cmdline.includes(part)))
    .map((p) => p.pid);
}

/** Sends `sig` to `pid`; false when it is gone. */
function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function frontAndChildren(frontEnd: number[]): ProcessSet {
  return { frontEnd, workers: frontEnd.flatMap(childrenOf) };
}

// ---------------------------------------------------------------------------------------------
// CGI

/**
 * `one-shot` and `daemon` run the `wsgi-cgi` command (dist/wsgi-cgi: the native launcher when the
 * build compiled it); `daemon-node` the Node entry; `direct` is the daemon those requests reach,
 * reached by Apache itself over FastCGI (mod_proxy_fcgi): what the launcher adds is the difference.
 */
export type CgiKind = 'wsgiref' | 'one-shot' | 'daemon' | 'daemon-node' | 'direct' | 'floor';

const CGI_NAMES: Record<CgiKind, string> = {
  wsgiref: 'wsgiref CGIHandler (mod_cgid)',
  'one-shot': 'wsgi-cgi one-shot (mod_cgid)',
  daemon: 'wsgi-cgi daemon (mod_cgid)',
  'daemon-node': 'wsgi-cgi daemon, Node entry (mod_cgid)',
  direct: 'wsgi-cgi daemon direct (mod_proxy_fcgi)',
  floor: 'C program that only answers (mod_cgid)',
};

/**
 * What mod_cgid itself costs per request, whatever the program: a static C CGI that writes a fixed
 * answer and exits. The launcher can come no nearer to the `direct` row than this row's distance
 * from it. Null without a C compiler (the row is then left out).
 */
function buildCgiFloor(dir: string): string | null {
  const source = join(dir, 'floor.c');
  const program = join(dir, 'floor.cgi');
  writeFileSync(
    source,
    '#include <unistd.h>\n' +
      'static const char answer[] = "Status: 200 OK\\r\\nContent-Type: text/plain\\r\\n' +
      'Content-Length: 12\\r\\n\\r\\nHello World\\n";\n' +
      'int main(void) { return write(1, answer, sizeof answer - 1) == (ssize_t)(sizeof answer - 1) ? 0 : 1; }\n',
  );
  try {
    execFileSync('cc', ['-O2', '-o', program, source], { stdio: 'ignore' });
    return program;
  } catch {
    return null;
  }
}

export interface CgiSide extends Side {
  target(kind: CgiKind, app: AppName): Target;
  /** Whether the `floor` target exists (a C compiler built it). */
  hasFloor: boolean;
}

/** ~www-data/.wsgikit: where wsgi-cgi's daemons keep their sockets (made here if missing, and removed after). */
const WWW_DATA_STATE = '/var/www/.wsgikit';

export async function startApacheCgi(): Promise<CgiSide> {
  // Apps run as www-data, whose home /var/www is the default allowed root: the site lives there.
  const base = benchDir('cgi', '/var/www');
  const www = join(base, 'www');
  const logs = wwwDataDir(join(base, 'logs'));
  const modules = moduleDir(join(base, 'modules'));
  mkdirs(www, join(www, 'dir'), join(www, 'ref'), join(base, 'apps'), join(base, 'cgi-bin'));
  const madeState = !existsSync(WWW_DATA_STATE);
  if (madeState) wwwDataDir(WWW_DATA_STATE);
  // Layout 2 of the guide: the .wsgi is the CGI program, its first line runs wsgi-cgi. The guide's
  // line names /usr/local/bin/wsgi-cgi, a link to the same file; naming the build directly
  // leaves the machine's link alone (the e2e tests manage it).
  const shebang = `#!${WSGI_CGI_COMMAND}`;
  const daemon = ['cgi_daemon = true', 'idle_timeout = 900'];
  for (const app of Object.keys(APPS) as AppName[]) {
    wsgiFile(join(www, 'dir', `${app}-one-shot.wsgi`), app, logs, ['cgi_daemon = false'], shebang);
    wsgiFile(join(www, 'dir', `${app}-daemon.wsgi`), app, logs, daemon, shebang);
    wsgiFile(join(www, 'dir', `${app}-daemon-node.wsgi`), app, logs, daemon, `#!${NODE} ${WSGI_CGI_BUILT}`);
    writeFileSync(
      join(www, 'ref', `${app}.cgi`),
      `#!${PYTHON}\nimport sys\nsys.path.insert(0, ${JSON.stringify(modules)})\n` +
        `from wsgiref.handlers import CGIHandler\nfrom ${MODULE[app]} import application\nCGIHandler().run(application)\n`,
      { mode: 0o755 },
    );
  }
  const floor = buildCgiFloor(join(www, 'ref'));
  const site =
    configFromGuide('apache-cgi.md', 'apache-cgi-site', [['/var/www/example', base]]) +
    `
# The anchor: Python's wsgiref.handlers.CGIHandler, a plain CGI script per app.
<Directory ${www}/ref>
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
` +
    (Object.keys(APPS) as AppName[])
      .map(
        (app) =>
          `ProxyPass /direct/${app}/ "unix:${WWW_DATA_STATE}/run/cgi.sock|fcgi://wsgikit-cgi-daemon${www}/dir/${app}-daemon.wsgi/"\n`,
      )
      .join('');
  const dir = benchDir('apache-cgi');
  const apache = await startApache(
    dir,
    await freePort(),
    ['cgid', 'alias', 'actions', 'rewrite', 'dir', 'proxy', 'proxy_fcgi'],
    site,
  );
  const isDaemon = (cmdline: string) => cmdline.includes('wsgi-fcgi') && cmdline.includes(WWW_DATA_STATE);
  const daemons = () => matching('wsgi-fcgi', WWW_DATA_STATE);
  return {
    hasFloor: floor !== null,
    target(kind, app) {
      const file =
        kind === 'floor' && floor !== null
          ? floor
          : kind === 'wsgiref'
            ? join(www, 'ref', `${app}.cgi`)
            : join(www, 'dir', `${app}-${kind === 'direct' ? 'daemon' : kind}.wsgi`);
      return {
        name: CGI_NAMES[kind],
        url: kind === 'direct' ? `${apache.url}/direct/${app}/` : `${apache.url}${file.slice(www.length)}/`,
        processes: (): ProcessSet => {
          if (kind === 'wsgiref' || kind === 'floor') return { frontEnd: [], workers: matching(file) };
          // The per-request wsgi-cgi (either entry) and the user's daemon (a wsgi-fcgi) are the
          // front end. One look at /proc per sample: these are sampled every 20 ms, beside
          // requests of a few milliseconds.
          const all = listProcesses();
          const frontEnd = all
            .filter((p) => (kind !== 'direct' && p.cmdline.includes(file)) || isDaemon(p.cmdline))
            .map((p) => p.pid);
          return { frontEnd, workers: all.filter((p) => frontEnd.includes(p.ppid)).map((p) => p.pid) };
        },
      };
    },
    async stop() {
      await apache.stop();
      // The daemon wsgi-cgi started for www-data: ours, stopped by pid (and waited for).
      const pids = daemons();
      for (const pid of pids) signal(pid, 'SIGTERM');
      for (let i = 0; i < 50 && pids.some((pid) => signal(pid, 0)); i++) await sleep(100);
      for (const pid of pids) signal(pid, 'SIGKILL');
      if (madeState) rmSync(WWW_DATA_STATE, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// mod_fcgid

export interface FcgidSide extends Side {
  target(app: AppName): Target;
  dropIn(app: AppName): Target;
  relay(app: AppName): Target;
}

export async function startApacheFcgid(): Promise<FcgidSide> {
  const dir = benchDir('fcgid');
  const www = join(dir, 'public_html');
  const apps = join(dir, 'apps');
  const fcgid = wwwDataDir(join(dir, 'fcgid'));
  const logs = wwwDataDir(join(dir, 'logs'));
  mkdirs(www, apps);
  const modules = moduleDir(join(dir, 'modules'));
  const floor = floorFiles(dir);
  // mod_fcgid hands a process one request at a time: two processes of one worker each are the
  // same two Python processes the other targets have.
  const settings = ['processes = 1', 'min_processes = 1'];
  for (const app of Object.keys(APPS) as AppName[]) {
    wsgiFile(join(apps, `${app}.wsgi`), app, logs, settings);
    writeFileSync(
      join(www, `${app}.fcgi`),
      configFromGuide('apache-mod-fcgid.md', 'fcgi-stub', [
        ['/usr/bin/node', NODE],
        ['/usr/lib/node_modules/wsgikit/dist/cli/wsgi-fcgi.js', WSGI_FCGI],
        ['/home/alice/apps/site.wsgi', join(apps, `${app}.wsgi`)],
        ['/home/alice/apps', apps],
      ]),
      { mode: 0o755 },
    );
    writeFileSync(
      join(www, `${app}-drop-in.fcgi`),
      `#!${PYTHON}\nimport sys\nsys.path[:0] = [${JSON.stringify(dirname(floor.server))}, ${JSON.stringify(modules)}]\n` +
        `from fcgi_server import run\nfrom ${MODULE[app]} import application\nrun(application)\n`,
      { mode: 0o755 },
    );
    // The bare relay in wsgi-fcgi's place: one Node, one worker, the socket on fd 0.
    const relay = [NODE, ...SERVICE_NODE_FLAGS, floor.relay, '-', '1', '1', PYTHON, floor.worker, modules, MODULE[app]];
    writeFileSync(join(www, `${app}-relay.fcgi`), `#!/bin/sh\nexec ${relay.join(' ')}\n`, { mode: 0o755 });
  }
  const site =
    configFromGuide('apache-mod-fcgid.md', 'apache-fcgid', [
      ['/home/alice/public_html', www],
      ['/var/lib/apache2/fcgid', fcgid],
      // The transfer workload's 100 MB bodies (mod_fcgid reads a body whole before passing it on).
      ['FcgidMaxRequestLen 1048576', 'FcgidMaxRequestLen 209715200'],
    ]) + `FcgidMaxProcessesPerClass ${WORKERS}\n`;
  const apache = await startApache(dir, await freePort(), ['fcgid'], site);
  return {
    target: (app) => ({
      name: 'wsgikit wsgi-fcgi (mod_fcgid)',
      url: `${apache.url}/${app}.fcgi/`,
      processes: () => frontAndChildren(matching(WSGI_FCGI, join(apps, `${app}.wsgi`))),
    }),
    relay: (app) => ({
      name: FLOOR_NAME.fcgidRelay,
      url: `${apache.url}/${app}-relay.fcgi/`,
      processes: () => frontAndChildren(matching(floor.relay, MODULE[app])),
    }),
    dropIn: (app) => ({
      name: FLOOR_NAME.dropIn,
      url: `${apache.url}/${app}-drop-in.fcgi/`,
      processes: () => ({ frontEnd: [], workers: matching(join(www, `${app}-drop-in.fcgi`)) }),
    }),
    stop: () => apache.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// mod_wsgi

export interface ModWsgiSide extends Side {
  target(app: AppName): Target;
}

export async function startApacheModWsgi(): Promise<ModWsgiSide> {
  const dir = benchDir('mod-wsgi');
  const modules = moduleDir(join(dir, 'modules'));
  const run = wwwDataDir(join(dir, 'run'));
  const groups = (Object.keys(APPS) as AppName[])
    .map(
      (
        app,
      ) => `WSGIDaemonProcess bench-${app} processes=${WORKERS} threads=1 display-name=%{GROUP} python-path=${modules}
WSGIScriptAlias /${app} ${modules}/${MODULE[app]}.py process-group=bench-${app} application-group=%{GLOBAL}`,
    )
    .join('\n');
  const site = `# mod_wsgi daemon mode, as its docs recommend: no Python in Apache's own processes.
WSGIRestrictEmbedded On
WSGISocketPrefix ${run}/wsgi
# Chunked request bodies reach the app (mod_wsgi refuses them with 411 otherwise).
WSGIChunkedRequest On
${groups}
<Directory ${modules}>
    Require all granted
</Directory>
`;
  const apache = await startApache(dir, await freePort(), ['wsgi'], site);
  const daemons = (app: AppName) =>
    listProcesses().filter(
      (p) => p.cmdline.startsWith(`(wsgi:bench-${app} `) || p.cmdline.startsWith(`(wsgi:bench-${app})`),
    );
  return {
    target: (app) => ({
      name: 'mod_wsgi daemon (Apache)',
      url: `${apache.url}/${app}/`,
      processes: () => {
        const all = listProcesses();
        const isDaemon = (cmd: string) => cmd.startsWith('(wsgi:');
        const frontEnd = [
          apache.pid,
          ...all.filter((p) => p.ppid === apache.pid && !isDaemon(p.cmdline)).map((p) => p.pid),
        ];
        return { frontEnd, workers: daemons(app).map((p) => p.pid) };
      },
    }),
    stop: () => apache.stop(),
  };
}
