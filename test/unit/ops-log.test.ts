// The operational log written to a file of its own (the CGI daemon's): pino's JSON lines, rotated
// by size as an app's log is, so the daemon never writes on into a file that was rotated away.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppLog } from '../../src/logs/app-log.js';
import { pinoOpsLog } from '../../src/ops-log.js';

const dir = mkdtempSync(join(tmpdir(), 'wsgikit-ops-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** As wsgi-fcgi --ops-log makes it. */
const toFile = (file: string, maxBytes = 1024 * 1024) => {
  const log = AppLog.open({ file, maxBytes, keep: 1 });
  return { write: (line: string) => log.writeRaw(line) };
};

const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { msg: string; name: string; n?: number; level: number });

describe('pinoOpsLog to a file, through an AppLog', () => {
  it('writes one JSON line per call, in pino shape', async () => {
    const file = join(dir, 'run', 'cgi.log'); // the folder is made as an app log's would be
    const ops = await pinoOpsLog('wsgi-fcgi', toFile(file));
    ops.info({ listen: '/x.sock' }, 'wsgi-fcgi ready');
    ops.warn({ app: '/a.wsgi' }, 'declined');
    expect(lines(file)).toMatchObject([
      { level: 30, name: 'wsgi-fcgi', listen: '/x.sock', msg: 'wsgi-fcgi ready' },
      { level: 40, app: '/a.wsgi', msg: 'declined' },
    ]);
  });

  it('rotates past its size: the older lines in .1, the later ones in a new file', async () => {
    const file = join(dir, 'rotating.log');
    const ops = await pinoOpsLog('wsgi-fcgi', toFile(file, 2000));
    for (let n = 0; n < 40; n++) ops.info({ n }, 'a line of about a hundred bytes');
    expect(existsSync(`${file}.1`)).toBe(true);
    const older = lines(`${file}.1`);
    const newer = lines(file);
    expect(readFileSync(file).length).toBeLessThanOrEqual(2000);
    expect(newer.length).toBeGreaterThan(0);
    // The two files hold the last lines in order, none repeated; older ones went with the rotations.
    const kept = [...older, ...newer].map((line) => line.n);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 40 - kept.length + i));
    expect(existsSync(`${file}.2`)).toBe(false);
  });
});
