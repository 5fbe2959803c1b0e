// nginx in front of wsgikit's wsgi-fcgi and of uWSGI's FastCGI mode, on 127.0.0.1. wsgi-fcgi runs
// as docs/nginx.md says (hosting mode, one service for every app, as www-data) behind the guide's
// own nginx site; uWSGI runs one instance per app (master + 2 processes, as www-data) behind a
// second server block of the same nginx; the floor of wsgikit's design (bench/floor.ts) behind a
// third. Built with the e2e tests' helpers (test/helpers/servers.ts).

import { chownSync } from 'node:fs';
import { join } from 'node:path';
import {
  commandFromGuide,
  configFromGuide,
  freePort,
  mkdirs,
  startNginx,
  startProc,
  startWsgiFcgi,
  type Proc,
  type WebServer,
} from '../test/helpers/servers.js';
import { benchDir, moduleDir, MODULE, WWW_DATA, wsgiFile, wwwDataDir, type AppName } from './apps.js';
import { cleanEnv } from './common.js';
import { startFloor, type Depth, type Floor } from './floor.js';
import { childrenOf, listProcesses, type ProcessSet } from './proc-memory.js';
import type { Target } from './targets.js';

/** Python processes per app for every target. */
export const WORKERS = 2;

/**
 * wsgi-fcgi as the guide runs it (a second service, the same command) behind nginx without
 * keep-alive: a connection per request, as mod_fcgid, a stock nginx or Apache without enablereuse,
 * and the CGI launcher all make it.
 */
export const PER_CONNECTION = 'wsgikit wsgi-fcgi (nginx, no keep-alive)';

export interface NginxSide {
  wsgikit(app: AppName | 'default'): Target;
  /** PER_CONNECTION. */
  wsgikitPerConnection(app: AppName): Target;
  uwsgi(app: AppName): Target;
  relay(app: AppName, depth: Depth): Target;
  prefork(app: AppName): Target;
  stop(): Promise<void>;
}

export async function startNginxSide(): Promise<NginxSide> {
  const dir = benchDir('nginx');
  const www = join(dir, 'public_html');
  const run = join(dir, 'run');
  mkdirs(www, run);
  if (WWW_DATA) chownSync(run, WWW_DATA.uid, WWW_DATA.gid);
  const logs = wwwDataDir(join(dir, 'logs'));
  const apps = moduleDir(join(dir, 'apps'));
  const fixed = [`processes = ${WORKERS}`, `min_processes = ${WORKERS}`];
  wsgiFile(join(www, 'hello.wsgi'), 'hello', logs, fixed);
  wsgiFile(join(www, 'flask.wsgi'), 'flask', logs, fixed);
  // The head-of-line workload runs wsgikit with its default settings.
  wsgiFile(join(www, 'default.wsgi'), 'hello', logs);

  const socket = join(run, 'fcgi.sock');
  const [port, uwPort, floorPort, oncePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const procs: Proc[] = [];
  let nginx: WebServer | null = null;
  let floor: Floor | null = null;
  try {
    floor = await startFloor(dir, run, apps, WORKERS);
    const startService = async (listen: string) => {
      const command = commandFromGuide('nginx.md', 'wsgi-fcgi-unix', [
        ['/run/wsgikit/alice/fcgi.sock', listen],
        ['/home/alice/public_html', www],
        ['--root /home/alice/apps', `--root ${apps}`],
        ['--user alice', '--user www-data'],
      ]);
      const service = await startWsgiFcgi(listen, command.args.slice(2), command.env);
      procs.push(service);
      return service;
    };
    const fcgi = await startService(socket);
    // A service of its own, so that what a connection per request leaves in its heap is not
    // counted against the keep-alive row's memory.
    const onceSocket = join(run, 'once.sock');
    const once = await startService(onceSocket);
    const uwsgiSocket = (app: AppName) => join(run, `uwsgi-${app}.sock`);
    const masters = new Map<AppName, Proc>();
    for (const app of ['hello', 'flask'] as const) {
      const args = ['--plugin', 'python3', '--fastcgi-socket', uwsgiSocket(app), '--chmod-socket=666'];
      args.push('--wsgi-file', join(apps, `${MODULE[app]}.py`), '--master', '--processes', String(WORKERS));
      args.push('--uid', 'www-data', '--gid', 'www-data', '--die-on-term', '--need-app', '--disable-logging');
      const proc = startProc('uwsgi', args, cleanEnv());
      procs.push(proc);
      masters.set(app, proc);
    }
    // The guide's site, for the service on `service` (its TCP location too), with `changes`.
    const guideSite = (listenPort: number, service: string, changes: Array<[string, string]>) =>
      configFromGuide('nginx.md', 'nginx-site', [
        ['/run/wsgikit/alice/fcgi.sock', service],
        ['127.0.0.1:9000', `unix:${service}`],
        ['listen 80;', `listen 127.0.0.1:${listenPort};`],
        ['/home/alice/public_html', www],
        ['/home/alice/apps/shop.wsgi', join(www, 'hello.wsgi')],
        ...changes,
      ]);
    const site = guideSite(port, socket, []);
    // The same site without its keep-alive (nginx's default), to the second service: its upstreams
    // renamed, as both sites share one http block.
    const onceSite = guideSite(oncePort, onceSocket, [
      ['wsgikit_alice', 'wsgikit_once'],
      ['wsgikit_report', 'wsgikit_once_report'],
      ['    keepalive 16;\n', ''],
      ['        fastcgi_keep_conn on;\n', ''],
    ]);
    // uWSGI as its docs deploy it behind nginx: fastcgi_params, no keep-alive (it closes each
    // connection), nginx's default request buffering; the same body limit as the guide's site.
    const uwsgiSite = `
server {
    listen 127.0.0.1:${uwPort};
    client_max_body_size 100m;
    location /hello/ { include fastcgi_params; fastcgi_param PATH_INFO $uri; fastcgi_pass unix:${uwsgiSocket('hello')}; }
    location /flask/ { include fastcgi_params; fastcgi_param PATH_INFO $uri; fastcgi_pass unix:${uwsgiSocket('flask')}; }
}
`;
    const floorSite = `${floor.upstreams}server {\n    listen 127.0.0.1:${floorPort};\n${floor.locations}}\n`;
    nginx = await startNginx(dir, port, site + uwsgiSite + onceSite + floorSite);
    const [ng, fl] = [nginx, floor];
    const floorBase = `http://127.0.0.1:${floorPort}`;
    const wsgikitProcesses = (service: Proc, app: AppName | 'default') => (): ProcessSet => ({
      frontEnd: [service.pid],
      workers: listProcesses()
        .filter((p) => p.ppid === service.pid && p.cmdline.includes(`/${app}.wsgi`))
        .map((p) => p.pid),
    });
    return {
      wsgikit: (app) => ({
        name: 'wsgikit wsgi-fcgi (nginx)',
        url: `http://127.0.0.1:${port}/${app}.wsgi/`,
        processes: wsgikitProcesses(fcgi, app),
      }),
      wsgikitPerConnection: (app) => ({
        name: PER_CONNECTION,
        url: `http://127.0.0.1:${oncePort}/${app}.wsgi/`,
        processes: wsgikitProcesses(once, app),
      }),
      uwsgi: (app) => {
        const master = masters.get(app)!;
        return {
          name: 'uWSGI --fastcgi-socket (nginx)',
          url: `http://127.0.0.1:${uwPort}/${app}/`,
          processes: () => ({ frontEnd: [master.pid], workers: childrenOf(master.pid) }),
        };
      },
      relay: (app, depth) => fl.relay(floorBase, app, depth),
      prefork: (app) => fl.prefork(floorBase, app),
      async stop() {
        await ng.stop();
        for (const proc of procs) await proc.stop();
        await fl.stop();
      },
    };
  } catch (error) {
    await nginx?.stop();
    await floor?.stop();
    for (const proc of procs) await proc.stop();
    throw error;
  }
}
