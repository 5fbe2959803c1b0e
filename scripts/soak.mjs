// The long soak: the suite's test/reliability/soak.test.ts for as long as you like.
//   npm run build && node scripts/soak.mjs --minutes 30 [--clients 4] [--no-apache] [--no-nginx]
// Needs root, nginx and Apache as the end-to-end tests do. Runs test/reliability/soak-run.ts
// (through scripts/import-ts.mjs) and prints the counts; exits 1 on any failed or
// corrupted response or an RSS spread of 30 MB or more after warm-up.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importTs } from './import-ts.mjs';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    clients: { type: 'string', default: '4' },
    'no-apache': { type: 'boolean', default: false },
    'no-nginx': { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error('--minutes N: a number above 0');

const root = new URL('..', import.meta.url).pathname;
const { runSoak, describeSoak } = await importTs(join(root, 'test/reliability/soak-run.ts'));

const result = await runSoak(
  {
    seconds: minutes * 60,
    clientsPerStack: Number(values.clients),
    sampleMs: 5000,
    warmupMs: 20_000,
    log: console.log,
  },
  { nginx: !values['no-nginx'], apache: !values['no-apache'] },
);
console.log(describeSoak(result));
let bad = false;
for (const stats of [result.nginx, result.apache]) {
  if (!stats) continue;
  if (stats.failures.length > 0) {
    bad = true;
    console.log('failures (first 20):', stats.failures.slice(0, 20));
  }
  for (const [name, kb] of Object.entries(stats.rss)) {
    if (Math.max(...kb) - Math.min(...kb) >= 30 * 1024) {
      bad = true;
      console.log(`${name}: RSS spread ${Math.round((Math.max(...kb) - Math.min(...kb)) / 1024)} MB`);
    }
  }
}
process.exit(bad ? 1 : 0);
