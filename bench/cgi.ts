// CGI per-request time under Apache mod_cgid: wsgikit's wsgi-cgi (one-shot, and daemon mode through
// the native launcher and through the Node entry) next to Python's own wsgiref.handlers.CGIHandler,
// and the same daemon reached directly over FastCGI (mod_proxy_fcgi), on the hello and the Flask
// app, and beside hello a C program that only answers: what mod_cgid itself costs per request.
// Requests go one after another over one keep-alive connection, BENCH_PER_ROUND per target
// and round.

import type { CgiKind } from './apache.js';
import { PER_ROUND, quantile, selected, type Row } from './common.js';
import { sequential, timedGet } from './load.js';
import { interleaved, rowsOf } from './measure.js';
import { servers } from './targets.js';

export async function benchCgi(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const app of ['hello', 'flask'] as const) {
    if (!selected(`cgi-${app}`)) continue;
    const side = await servers.cgi();
    const kinds: CgiKind[] = ['wsgiref', 'one-shot', 'daemon', 'daemon-node', 'direct'];
    // mod_cgid's own cost per request does not depend on the app: measured once, beside hello.
    if (app === 'hello' && side.hasFloor) kinds.push('floor');
    const targets = kinds.map((kind) => side.target(kind, app));
    // Warm-up, in this order: the daemon rows start the daemon that `direct` then reaches.
    for (const target of targets) await timedGet(target.url);
    const measured = await interleaved(
      `cgi-${app}`,
      targets,
      async (target) => {
        const times = await sequential(target.url, PER_ROUND);
        return { value: quantile(times, 0.5), p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
      },
      { sampleEveryMs: 20 },
    );
    rows.push(...rowsOf(`cgi-${app}`, 'ms/request', measured));
  }
  return rows;
}
