// The floor of wsgikit's design, served behind the same nginx as the others (bench/nginx.ts):
//   - the bare relay (bench/floor/relay.ts + worker.py): nginx keep-alive → one Node process →
//     2 Python workers over socketpairs, at depth 1 (a worker gets its next request once it has
//     answered) and depth 2 (a second request waits in a busy worker's socket);
//   - a stdlib Python prefork FastCGI server (bench/floor/fcgi_server.py, 2 processes), no Node;
//     nginx closes each connection, as with uWSGI.
// They run as www-data, with the Node flags wsgikit's services run with, and the same app modules.

import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_FLAGS } from '../src/install-paths.js';
import { answersSocket, NODE, startProc, waitFor, type Proc } from '../test/helpers/servers.js';
import { MODULE, WWW_DATA, type AppName } from './apps.js';
import { cleanEnv, PYTHON, ROOT } from './common.js';
import { childrenOf, type ProcessSet } from './proc-memory.js';
import type { Target } from './targets.js';

export const FLOOR_DIR = fileURLToPath(new URL('floor/', import.meta.url));
/** The Python FastCGI server's module, for the bench's own copy and for the drop-in `.fcgi`. */
export const FCGI_SERVER = 'fcgi_server.py';

export type Depth = 1 | 2;

export const FLOOR_NAME = {
  relay: (depth: Depth) => `bare Node relay, depth ${depth} (nginx)`,
  prefork: 'stdlib Python prefork FastCGI (nginx)',
  /** The same server as a drop-in `.fcgi` under mod_fcgid (bench/apache.ts). */
  dropIn: 'Python drop-in .fcgi, stdlib FastCGI (mod_fcgid)',
  /** The bare relay (one worker) as the `.fcgi` in wsgi-fcgi's place under mod_fcgid. */
  fcgidRelay: 'bare Node relay .fcgi, 1 worker (mod_fcgid)',
};

export interface Floor {
  /** The nginx lines (upstreams and locations) for a server block that serves the floor. */
  upstreams: string;
  locations: string;
  /** Targets, once nginx serves `locations` at `base` (http://127.0.0.1:PORT). */
  relay(base: string, app: AppName, depth: Depth): Target;
  prefork(base: string, app: AppName): Target;
  stop(): Promise<void>;
}

/** The floor's Python files and the bundled relay, copied into `dir` (www-data may not read the repo). */
export function floorFiles(dir: string): { worker: string; server: string; relay: string } {
  const [worker, server, relay] = [join(dir, 'worker.py'), join(dir, FCGI_SERVER), join(dir, 'relay.mjs')];
  copyFileSync(join(FLOOR_DIR, 'worker.py'), worker);
  copyFileSync(join(FLOOR_DIR, FCGI_SERVER), server);
  // From the repo's node_modules: the bench runs as a bundle in a temp folder (scripts/import-ts.mjs).
  const esbuild = createRequire(join(ROOT, 'package.json'))('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    entryPoints: [join(FLOOR_DIR, 'relay.ts')],
    outfile: relay,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  return { worker, server, relay };
}

/** `command` as www-data (when there is one), exec'd in place so that the pid is the program's. */
function asWwwData(command: string, args: string[]): [string, string[]] {
  if (!WWW_DATA) return [command, args];
  const ids = [`--reuid=${WWW_DATA.uid}`, `--regid=${WWW_DATA.gid}`, '--clear-groups'];
  return ['setpriv', [...ids, command, ...args]];
}

async function listening(socket: string, command: string, args: string[]): Promise<Proc> {
  const proc = startProc(...asWwwData(command, args), cleanEnv());
  await waitFor(
    () => answersSocket(socket),
    `${command} ${args.join(' ')}`,
    proc,
    () => '',
  );
  return proc;
}

export async function startFloor(dir: string, run: string, modules: string, workers: number): Promise<Floor> {
  const files = floorFiles(dir);
  const procs = new Map<string, Proc>();
  const socket = (key: string) => join(run, `floor-${key}.sock`);
  const upstream = (key: string) => `floor_${key.replace(/-/g, '_')}`;
  let upstreams = '';
  let locations = '';
  try {
    for (const app of ['hello', 'flask'] as const) {
      for (const depth of [1, 2] as const) {
        const key = `relay${depth}-${app}`;
        const args = [...SERVICE_NODE_FLAGS, files.relay, socket(key), String(workers), String(depth)];
        args.push(PYTHON, files.worker, modules, MODULE[app]);
        procs.set(key, await listening(socket(key), NODE, args));
        upstreams += `upstream ${upstream(key)} { server unix:${socket(key)}; keepalive 16; keepalive_requests 10000; }\n`;
        locations += `    location /${key}/ { include fastcgi_params; fastcgi_param PATH_INFO $uri; fastcgi_pass ${upstream(key)}; fastcgi_keep_conn on; }\n`;
      }
      const key = `prefork-${app}`;
      const args = [files.server, '--listen', socket(key), '--processes', String(workers), modules, MODULE[app]];
      procs.set(key, await listening(socket(key), PYTHON, args));
      locations += `    location /${key}/ { include fastcgi_params; fastcgi_param PATH_INFO $uri; fastcgi_pass unix:${socket(key)}; }\n`;
    }
  } catch (error) {
    for (const proc of procs.values()) await proc.stop();
    throw error;
  }
  const target = (name: string, url: string, frontEnd: (pid: number) => number[]): Target => {
    const pid = procs.get(url.split('/')[3]!)!.pid;
    return {
      name,
      url,
      processes: (): ProcessSet => ({ frontEnd: frontEnd(pid), workers: childrenOf(pid) }),
    };
  };
  return {
    upstreams,
    locations,
    relay: (base, app, depth) => target(FLOOR_NAME.relay(depth), `${base}/relay${depth}-${app}/`, (pid) => [pid]),
    // The prefork server's parent only waits for its children: no front end.
    prefork: (base, app) => target(FLOOR_NAME.prefork, `${base}/prefork-${app}/`, () => []),
    async stop() {
      for (const proc of procs.values()) await proc.stop();
    },
  };
}
