// docs/scaling.md: two wsgi-fcgi backends (two ports of 127.0.0.1 standing in for two machines)
// behind one nginx upstream, from the page's command line and nginx blocks. Round robin reaches
// both, each backend's status page is reachable for monitoring, and when one backend stops
// nginx keeps answering from the other.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppFolder } from '../helpers/wsgi-run.js';
import {
  commandFromGuide,
  configFromGuide,
  curl,
  e2eDir,
  findBinary,
  freePort,
  isRoot,
  ownedAppFolder,
  removeTempDirs,
  startNginx,
  startWsgiFcgi,
  userIds,
  type WebServer,
  type WsgiFcgi,
} from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';

const GUIDE = 'scaling.md';
/** Stands in for the service user "shop" of the guide. */
const APP_USER = 'nobody';
const available = findBinary('nginx') !== null && isRoot() && userIds(APP_USER) !== null;

const APP = `import json, os

def application(environ, start_response):
    body = json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'path': environ.get('PATH_INFO', '')}).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
`;

interface Seen {
  pid: number;
  ppid: number;
  path: string;
}

/** The parent pid of a process, from /proc/PID/stat (the field after the state). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe.skipIf(!available)('nginx upstream → two wsgi-fcgi backends (docs/scaling.md)', () => {
  const token = randomBytes(16).toString('hex');
  let app: AppFolder;
  let nginx: WebServer;
  let monitor: string;
  const backends: WsgiFcgi[] = [];

  async function get(path: string): Promise<Seen> {
    const res = await curl(nginx.url + path);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}\n${res.body}`);
    return JSON.parse(res.body) as Seen;
  }

  /** The health check of the guide, for backend `name` (b1, b2). */
  function health(name: 'b1' | 'b2') {
    const line = configFromGuide(GUIDE, 'health', [
      ['http://127.0.0.1:8081/b1/', `${monitor}/${name}/`],
      ['$TOKEN', token],
    ]);
    const url = /'([^']+)'/.exec(line)![1]!;
    const cookie = /--cookie "([^"]+)"/.exec(line)![1]!;
    return curl(url, ['--cookie', cookie]);
  }

  beforeAll(async () => {
    const dir = e2eDir('scaling');
    app = ownedAppFolder(APP, { owner_token_sha256: createHash('sha256').update(token).digest('hex') }, APP_USER);
    const ports = [await freePort(), await freePort()];
    for (const [i, port] of ports.entries()) {
      const backend = commandFromGuide(GUIDE, 'backend', [
        ['10.0.0.10', '127.0.0.1'],
        ['10.0.0.21:9000', `127.0.0.1:${port}`],
        ['/srv/shop/shop.wsgi', app.app],
        ['--user shop', `--user ${APP_USER}`],
      ]);
      expect(backend.env).toEqual({ FCGI_WEB_SERVER_ADDRS: '127.0.0.1' });
      expect(backend.args.slice(0, 2)).toEqual(['--listen', `127.0.0.1:${port}`]);
      backends[i] = await startWsgiFcgi(`127.0.0.1:${port}`, backend.args.slice(2), backend.env);
    }
    const [port, monitorPort] = [await freePort(), await freePort()];
    monitor = `http://127.0.0.1:${monitorPort}`;
    const site = configFromGuide(GUIDE, 'nginx-upstream', [
      ['10.0.0.21:9000', `127.0.0.1:${ports[0]}`],
      ['10.0.0.22:9000', `127.0.0.1:${ports[1]}`],
      ['listen 80;', `listen 127.0.0.1:${port};`],
      ['listen 127.0.0.1:8081;', `listen 127.0.0.1:${monitorPort};`],
      ['/srv/shop/shop.wsgi', app.app],
    ]);
    nginx = await startNginx(dir, port, site);
  });

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    removeTempDirs();
  });

  dumpLogsOnFailure(() => [
    ['nginx error log', nginx?.errorLog() ?? ''],
    ['backend 1', backends[0]?.output() ?? ''],
    ['backend 2', backends[1]?.output() ?? ''],
    ['app log', app?.log() ?? ''],
  ]);

  it('spreads 40 requests over both backends', async () => {
    const served = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const seen = await get(`/page/${i}`);
      expect(seen.path).toBe(`/page/${i}`);
      served.set(seen.ppid, (served.get(seen.ppid) ?? 0) + 1);
    }
    const [one, two] = backends.map((b) => served.get(b.pid) ?? 0);
    expect(one! + two!).toBe(40);
    expect(one).toBeGreaterThan(0);
    expect(two).toBeGreaterThan(0);
  });

  it("each backend's status JSON is reachable for monitoring, and is that backend's", async () => {
    for (const [i, name] of (['b1', 'b2'] as const).entries()) {
      const res = await health(name);
      expect(res.status, res.body).toBe(200);
      const status = JSON.parse(res.body) as { failure: string | null; workers: Array<{ pid: number }> };
      expect(status.failure).toBeNull();
      expect(status.workers.length).toBeGreaterThan(0);
      for (const worker of status.workers) expect(parentOf(worker.pid)).toBe(backends[i]!.pid);
    }
    // Without the owner cookie, the status page does not exist.
    expect((await curl(`${monitor}/b1/.wsgikit/status?format=json`)).status).toBe(404);
  });

  it('keeps serving from the other backend when one is stopped', async () => {
    const [stopped, other] = backends as [WsgiFcgi, WsgiFcgi];
    await stopped.stop('SIGTERM');
    for (let i = 0; i < 20; i++) {
      const seen = await get(`/after/${i}`);
      expect(seen.ppid).toBe(other.pid);
    }
    expect((await health('b1')).status).toBe(502);
    expect((await health('b2')).status).toBe(200);
  });
});
