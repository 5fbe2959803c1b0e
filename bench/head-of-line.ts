// Head-of-line blocking: with 2 Python processes' worth of slow requests in flight (?slow=3), 50
// fast requests are sent at once; the figure is how many of them took over 1 s. wsgikit runs with
// its default settings (default.wsgi has none); uWSGI and mod_wsgi are prefork with 2 processes.

import { quantile, selected, type Row } from './common.js';
import { timedGet } from './load.js';
import { interleaved, rowsOf } from './measure.js';
import { WORKERS } from './nginx.js';
import { servers } from './targets.js';

const SLOW_SECONDS = 3;
const FAST = 50;

export async function benchHeadOfLine(): Promise<Row[]> {
  if (!selected('head-of-line')) return [];
  const nginx = await servers.nginx();
  const targets = [nginx.uwsgi('hello'), nginx.wsgikit('default'), (await servers.modWsgi()).target('hello')];
  for (const target of targets) for (let i = 0; i < 4; i++) await timedGet(target.url);
  const measured = await interleaved('head-of-line', targets, async (target) => {
    const slow = Array.from({ length: WORKERS }, () => timedGet(`${target.url}?slow=${SLOW_SECONDS}`));
    await new Promise((r) => setTimeout(r, 300)); // the slow ones have reached the app
    const fast = await Promise.all(Array.from({ length: FAST }, () => timedGet(target.url)));
    await Promise.all(slow);
    return { value: fast.filter((ms) => ms > 1000).length, p50: quantile(fast, 0.5), p99: quantile(fast, 0.99) };
  });
  return rowsOf('head-of-line', `of ${FAST} fast over 1 s`, measured).map((row) => ({ ...row, ratio: NaN }));
}
