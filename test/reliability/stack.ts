// The two real front-end stacks the reliability tests drive, on 127.0.0.1:
//   nginx → wsgi-fcgi: the site of docs/nginx.md (read out of the guide), wsgi-fcgi in hosting
//     mode as the user nobody on a Unix socket;
//   Apache (mod_cgid) → wsgi-cgi: the Action-handler layout of docs/apache-cgi.md, a cgi-bin stub
//     that execs the built dist/wsgi-cgi.cjs, apps under /var/www (www-data's home, its default
//     allowed root), run as www-data.
// Daemon mode for www-data needs ~www-data/.wsgikit (docs/apache-cgi.md): `daemonHome` makes it
// when it is missing and removes it again on stop.

import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  APACHE_MODULES,
  NODE,
  REPO,
  configFromGuide,
  e2eDir,
  findBinary,
  freePort,
  isRoot,
  mkdirs,
  startApache,
  startNginx,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';
import { listProcesses } from '../helpers/apache-cgi.js';

export const APP_USER = 'nobody';
const APACHE_MODS = ['cgid', 'alias', 'actions'];

export const nginxAvailable = isRoot() && findBinary('nginx') !== null && userIds(APP_USER) !== null;
export const apacheAvailable =
  isRoot() &&
  findBinary('apache2') !== null &&
  APACHE_MODS.every((m) => existsSync(join(APACHE_MODULES, `mod_${m}.so`))) &&
  userIds('www-data') !== null &&
  existsSync('/var/www');

export interface NginxStack {
  nginx: WebServer;
  fcgi: WsgiFcgi;
  /** The document root (wsgi-fcgi's --root). */
  www: string;
  socket: string;
  /** Writes www/NAME.wsgi (+ sidecar with its own log folder, owned by the app user). */
  add(name: string, source: string, toml?: string): { app: string; logDir: string };
  stop(): Promise<void>;
}

export async function startNginxStack(name: string): Promise<NginxStack> {
  const dir = e2eDir(name);
  const www = join(dir, 'public_html');
  const run = join(dir, 'run');
  const logs = join(dir, 'logs');
  mkdirs(www, run, logs);
  const ids = userIds(APP_USER)!;
  const socket = join(run, 'fcgi.sock');
  const fcgi = await startWsgiFcgi(socket, ['--socket-mode', '666', '--root', www, '--user', APP_USER]);
  const port = await freePort();
  const site = configFromGuide('nginx.md', 'nginx-site', [
    ['/run/wsgikit/alice/fcgi.sock', socket],
    ['127.0.0.1:9000', `127.0.0.1:${await freePort()}`],
    ['listen 80;', `listen 127.0.0.1:${port};`],
    ['/home/alice/public_html', www],
    ['/home/alice/apps/shop.wsgi', join(dir, 'none.wsgi')],
  ]);
  const nginx = await startNginx(dir, port, site);
  return {
    nginx,
    fcgi,
    www,
    socket,
    add(app, source, toml = '') {
      const logDir = join(logs, app);
      mkdirSync(logDir, { recursive: true, mode: 0o700 });
      chownSync(logDir, ids.uid, ids.gid);
      const file = join(www, `${app}.wsgi`);
      writeFileSync(file, source, { mode: 0o644 });
      writeFileSync(`${file}.toml`, `log_dir = ${JSON.stringify(logDir)}\n${toml}`, { mode: 0o644 });
      return { app: file, logDir };
    },
    async stop() {
      await nginx.stop();
      await fcgi.stop();
    },
  };
}

export interface ApacheStack {
  apache: WebServer;
  base: string;
  www: string;
  add(name: string, source: string, toml?: string): { app: string; logDir: string };
  /** wsgi-cgi daemons (wsgi-fcgi as www-data) serving one of our apps. */
  daemons(): number[];
  stop(): Promise<void>;
}

export async function startApacheStack(name: string, daemonHome: boolean): Promise<ApacheStack> {
  const www = userIds('www-data')!;
  const base = mkdtempSync(`/var/www/wsgikit-${name}-`);
  chmodSync(base, 0o755);
  const docroot = join(base, 'www');
  const cgiBin = join(base, 'cgi-bin');
  mkdirs(docroot, cgiBin);
  // The stub of suexec/wsgi-cgi, pointed at this checkout's build instead of /usr/local/bin.
  writeFileSync(join(cgiBin, 'wsgi-cgi'), `#!/bin/sh\nexec ${NODE} ${join(REPO, 'dist', 'wsgi-cgi.cjs')}\n`);
  chmodSync(join(cgiBin, 'wsgi-cgi'), 0o755);
  const home = '/var/www/.wsgikit';
  const madeHome = daemonHome && !existsSync(home);
  if (madeHome) {
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, www.uid, www.gid);
  }
  const site = `
DocumentRoot ${docroot}
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory ${docroot}>
    Require all granted
    Action wsgi-script /cgi-bin/wsgi-cgi
    AddHandler wsgi-script .wsgi
</Directory>
<FilesMatch "\\.wsgi\\.toml$">
    Require all denied
</FilesMatch>
ScriptAlias /cgi-bin/ ${cgiBin}/
<Directory ${cgiBin}>
    Require all granted
</Directory>
`;
  const dir = e2eDir(`${name}-apache`);
  const apache = await startApache(dir, await freePort(), [...APACHE_MODS], site);
  const apps: string[] = [];
  // www-data's daemon (one per user) while it serves one of our apps: started by their requests.
  const daemons = () =>
    apps.length === 0
      ? []
      : listProcesses()
          .filter(
            (p) =>
              p.uid === www.uid &&
              p.cmdline.some((a) => a.endsWith('/wsgi-fcgi.js')) &&
              (p.cmdline[p.cmdline.indexOf('--listen') + 1] ?? '').startsWith(`${home}/run/`),
          )
          .map((p) => p.pid);
  return {
    apache,
    base,
    www: docroot,
    add(app, source, toml = '') {
      const logDir = join(base, 'logs', app);
      mkdirSync(logDir, { recursive: true, mode: 0o700 });
      chownSync(logDir, www.uid, www.gid);
      chownSync(join(base, 'logs'), www.uid, www.gid);
      const file = join(docroot, `${app}.wsgi`);
      writeFileSync(file, source, { mode: 0o644 });
      writeFileSync(`${file}.toml`, `log_dir = ${JSON.stringify(logDir)}\n${toml}`, { mode: 0o644 });
      apps.push(file);
      return { app: file, logDir };
    },
    daemons,
    async stop() {
      await apache.stop();
      for (const pid of daemons()) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone
        }
      }
      for (let i = 0; i < 50 && daemons().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      if (!process.env.WSGIKIT_KEEP_E2E) rmSync(base, { recursive: true, force: true });
      if (madeHome) rmSync(home, { recursive: true, force: true });
    },
  };
}
