// What a Python worker costs beyond the app: each target's worker RSS (the largest, after a short
// load; this part runs before the transfers, which leave their buffers behind) minus a bare Python process with the same app loaded and one request served through it
// (/usr/bin/python3, wsgiref's test environ). The front end's RSS under load is in the FastCGI
// rows; the growth during large bodies in the transfer rows.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { benchDir, MODULE, moduleDir, type AppName } from './apps.js';
import { PYTHON, median, selected, type Row } from './common.js';
import { fastcgiTargets } from './fastcgi.js';
import { warmUp } from './load.js';
import { rssMb } from './proc-memory.js';

const BARE = `
import re, sys
from wsgiref.util import setup_testing_defaults
sys.path.insert(0, sys.argv[1])
application = __import__(sys.argv[2]).application
environ = {}
setup_testing_defaults(environ)
result = application(environ, lambda status, headers, exc_info=None: None)
for _ in result:
    pass
getattr(result, 'close', lambda: None)()
status = open('/proc/self/status').read()
print(int(re.search(r'VmRSS:\\s+(\\d+) kB', status).group(1)) / 1024)
`;

export async function benchMemory(): Promise<Row[]> {
  if (!selected('memory')) return [];
  const modules = moduleDir(join(benchDir('bare'), 'modules'));
  const rows: Row[] = [];
  for (const app of ['hello', 'flask'] as AppName[]) {
    const bare = median(
      [1, 2, 3].map(() => Number(execFileSync(PYTHON, ['-c', BARE, modules, MODULE[app]], { encoding: 'utf8' }))),
    );
    rows.push({ workload: `memory-${app}`, target: 'bare Python, app loaded', value: bare, unit: 'MB', ratio: NaN });
    for (const target of await fastcgiTargets(app)) {
      await warmUp(target.url);
      const { workers: workerPids, frontEnd } = target.processes();
      const workers = workerPids.map(rssMb);
      const worker = Math.max(...workers);
      if (!(worker > 0)) {
        const note = 'no worker process found';
        rows.push({ workload: `memory-${app}`, target: target.name, value: NaN, unit: '', ratio: NaN, note });
        continue;
      }
      rows.push({
        workload: `memory-${app}`,
        target: target.name,
        value: worker - bare,
        unit: 'MB over bare',
        ratio: NaN,
        workerMb: worker,
        ...(frontEnd.length > 0 ? { frontEndMb: Math.max(...frontEnd.map(rssMb)) } : {}),
      });
    }
  }
  return rows;
}
