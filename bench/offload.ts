// Files handed to nginx, set up as docs/file-offload.md documents it (its e2e blocks, read as the
// e2e test reads them): one nginx with the guide's site twice, each in front of its own wsgi-fcgi
// (the guide's command, as www-data) serving the same app and home. One wsgi-fcgi runs with the
// host file's `sendfile = "none"` (wsgikit streams the file itself), the other with the guide's
// `--sendfile x-accel-redirect` and [sendfile_map] (nginx sends it from its internal location).
// The app is the e2e fixture sendfile.wsgi: ?x-sendfile=PATH answers X-Sendfile, ?wrap=PATH
// returns wsgi.file_wrapper over the open file.

import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  commandFromGuide,
  configFromGuide,
  fixture,
  freePort,
  mkdirs,
  startNginx,
  startWsgiFcgi,
  type Proc,
  type WebServer,
} from '../test/helpers/servers.js';
import { benchDir, WWW_DATA, wsgiFile, wwwDataDir } from './apps.js';
import { timedGet } from './load.js';
import { WORKERS } from './nginx.js';
import { listProcesses } from './proc-memory.js';
import type { Target } from './targets.js';

const GUIDE = 'file-offload.md';

export type OffloadMode = 'none' | 'x-accel-redirect';
/** How the app names the file: the header, or wsgi.file_wrapper (its query key in sendfile.wsgi). */
export type FileVia = 'X-Sendfile' | 'wsgi.file_wrapper';

export const MODE_NAME: Record<OffloadMode, string> = {
  none: 'wsgikit streamed (sendfile none)',
  'x-accel-redirect': 'wsgikit offloaded (x-accel-redirect)',
};

export interface OffloadSide {
  /** The folder the app may send files from (inside the guide's "/home/"). */
  files: string;
  /** The target that downloads `file` in `mode`, named by `via`. */
  target(mode: OffloadMode, via: FileVia, file: string): Target;
  stop(): Promise<void>;
}

export async function startOffloadSide(): Promise<OffloadSide> {
  // The guide's /home/alice: the app, its log folder and the files, all readable by www-data.
  const home = benchDir('offload-home');
  const files = join(home, 'files');
  mkdirs(join(home, 'apps'), files);
  const logs = wwwDataDir(join(home, 'logs'));
  const app = wsgiFile(join(home, 'apps', 'site.wsgi'), { source: fixture('sendfile.wsgi') }, logs, [
    `processes = ${WORKERS}`,
    `min_processes = ${WORKERS}`,
  ]);
  const dir = benchDir('offload-nginx');
  const run = join(dir, 'run');
  mkdirs(run);
  if (WWW_DATA) chownSync(run, WWW_DATA.uid, WWW_DATA.gid);

  const procs = new Map<OffloadMode, Proc>();
  const ports = new Map<OffloadMode, number>();
  let nginx: WebServer | null = null;
  const stopAll = async () => {
    await nginx?.stop();
    for (const proc of procs.values()) await proc.stop();
  };
  try {
    let sites = '';
    for (const mode of ['none', 'x-accel-redirect'] as const) {
      const socket = join(run, `${mode}.sock`);
      const hostFile = join(dir, `host-${mode}.toml`);
      const toml = configFromGuide(GUIDE, 'host-toml', [
        ['"/home/"', JSON.stringify(`${home}/`)],
        ...(mode === 'none' ? [['sendfile = "x-sendfile"', 'sendfile = "none"'] as [string, string]] : []),
      ]);
      writeFileSync(hostFile, toml, { mode: 0o644 });
      const command = commandFromGuide(GUIDE, 'wsgi-fcgi-nginx', [
        ['/run/wsgikit/alice/fcgi.sock', socket],
        ['/home/alice/apps/site.wsgi', app],
        ['/home/alice', home],
        ['--user alice', '--user www-data'],
        ['/etc/wsgikit/host.toml', hostFile],
        // The streamed one takes `sendfile` from its host file; the guide's flag would override it.
        ...(mode === 'none' ? [[' --sendfile x-accel-redirect', ''] as [string, string]] : []),
      ]);
      procs.set(mode, await startWsgiFcgi(socket, command.args.slice(2), command.env));
      const port = await freePort();
      ports.set(mode, port);
      sites += configFromGuide(GUIDE, 'nginx-site', [
        ['/run/wsgikit/alice/fcgi.sock', socket],
        ['listen 80;', `listen 127.0.0.1:${port};`],
        ['/home/', `${home}/`],
      ]);
    }
    nginx = await startNginx(dir, ports.get('none')!, sites);
    const workers = (mode: OffloadMode) =>
      listProcesses()
        .filter((p) => p.ppid === procs.get(mode)!.pid && p.cmdline.includes(app))
        .map((p) => p.pid);
    // The pool starts with the first request: a small one, then until its workers have all started,
    // so that the rounds watch them from before the download (their growth and CPU time).
    for (const mode of procs.keys()) {
      await timedGet(`http://127.0.0.1:${ports.get(mode)!}/`);
      for (let waited = 0; workers(mode).length < WORKERS && waited < 10_000; waited += 100) await sleep(100);
    }
    return {
      files,
      target: (mode, via, file) => ({
        name: MODE_NAME[mode],
        url: `http://127.0.0.1:${ports.get(mode)!}/?${via === 'X-Sendfile' ? 'x-sendfile' : 'wrap'}=${encodeURIComponent(file)}`,
        processes: () => ({ frontEnd: [procs.get(mode)!.pid], workers: workers(mode) }),
      }),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
