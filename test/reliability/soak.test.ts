// The bounded soak of the suite (scripts/soak.mjs runs the same for --minutes N): mixed traffic
// through nginx → wsgi-fcgi and Apache CGI (daemon mode) → wsgi-cgi for SOAK_SECONDS, every body
// checked by hash. Zero failed or corrupted responses; RSS of wsgi-fcgi and of the CGI daemon
// stable after warm-up. The counts are printed for the closing note.

import { describe, expect, it } from 'vitest';
import { describeSoak, runSoak } from './soak-run.js';
import { apacheAvailable, nginxAvailable } from './stack.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 45);

describe.skipIf(!nginxAvailable && !apacheAvailable)('soak: nginx → wsgi-fcgi and Apache CGI → wsgi-cgi', () => {
  it(
    `${SECONDS} s of mixed traffic: no failed or corrupted response, RSS stable`,
    { timeout: (SECONDS + 60) * 1000 },
    async () => {
      const result = await runSoak(
        { seconds: SECONDS, clientsPerStack: 3, sampleMs: 3000, warmupMs: 10_000 },
        { nginx: nginxAvailable, apache: apacheAvailable },
      );
      console.log(`[reliability] soak (${SECONDS} s):\n${describeSoak(result)}`);
      for (const stats of [result.nginx, result.apache]) {
        if (!stats) continue;
        expect(stats.failures.slice(0, 10)).toEqual([]);
        expect(stats.requests).toBeGreaterThan(50);
        expect(stats.faults).toBeGreaterThan(0);
        const samples = Object.values(stats.rss);
        expect(samples.length).toBeGreaterThan(0);
        for (const kb of samples) {
          expect(kb.length).toBeGreaterThan(2);
          expect(Math.max(...kb) - Math.min(...kb)).toBeLessThan(30 * 1024);
        }
      }
    },
  );
});
