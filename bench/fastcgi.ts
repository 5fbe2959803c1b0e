// FastCGI throughput, hello and Flask: wsgikit's wsgi-fcgi behind nginx (with keep-alive, and
// without: a connection per request) and under Apache mod_fcgid, next to uWSGI's FastCGI mode
// behind the same nginx (the reference), mod_wsgi in daemon mode, the drop-in Python .fcgi under
// the same mod_fcgid, and the floor of wsgikit's design (bench/floor.ts: the bare relay at depth 1
// and 2, the Python prefork server); 2 Python processes per app everywhere. wrk (-t2 -c16,
// BENCH_SECONDS) drives each in interleaved rounds; p50/p99 latency from wrk, memory and CPU of the
// front end and the workers.

import { SECONDS, selected, type Row } from './common.js';
import { warmUp, wrk } from './load.js';
import { interleaved, rowsOf } from './measure.js';
import { servers, type Target } from './targets.js';
import type { AppName } from './apps.js';

/** The targets serving `app` over FastCGI (and mod_wsgi), the reference first. */
export async function fastcgiTargets(app: AppName): Promise<Target[]> {
  const nginx = await servers.nginx();
  const fcgid = await servers.fcgid();
  return [
    nginx.uwsgi(app),
    nginx.wsgikit(app),
    nginx.wsgikitPerConnection(app),
    fcgid.target(app),
    fcgid.dropIn(app),
    fcgid.relay(app),
    (await servers.modWsgi()).target(app),
    nginx.relay(app, 1),
    nginx.relay(app, 2),
    nginx.prefork(app),
  ];
}

export async function benchFastcgi(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const app of ['hello', 'flask'] as const) {
    if (!selected(`fcgi-${app}`)) continue;
    const targets = await fastcgiTargets(app);
    for (const target of targets) await warmUp(target.url);
    const measured = await interleaved(
      `fcgi-${app}`,
      targets,
      async (target) => {
        const run = await wrk(target.url, SECONDS);
        return { value: run.rps, p50: run.p50, p99: run.p99, requests: run.requests };
      },
      { sampleEveryMs: 200 },
    );
    rows.push(...rowsOf(`fcgi-${app}`, 'req/s', measured));
  }
  return rows;
}
