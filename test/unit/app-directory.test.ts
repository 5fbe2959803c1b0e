// The directory's view over every app it has resolved: what the user's CGI daemon consults for its
// idle exit (src/cli/wsgi-fcgi.ts), since it serves every app of its user.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyHostSettings } from '../../src/app/settings.js';
import { silentOpsLog } from '../../src/ops-log.js';
import { AppDirectory } from '../../src/pool/app-directory.js';

const ROOT = mkdtempSync(join(tmpdir(), 'wsgikit-directory-'));
chmodSync(ROOT, 0o755);
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

function app(name: string, settings: string): string {
  const file = join(ROOT, name);
  writeFileSync(file, 'def application(environ, start_response): pass\n', { mode: 0o644 });
  writeFileSync(`${file}.toml`, `log_dir = "${ROOT}/logs"\n${settings}`, { mode: 0o644 });
  return file;
}

describe('AppDirectory.longestIdleTimeout', () => {
  it('is the longest idle_timeout of the apps resolved so far, never below the floor', async () => {
    const directory = new AppDirectory({
      host: { ...emptyHostSettings(), allowedRoots: [ROOT] },
      allowedRoots: [],
      baseEnv: {},
      ops: silentOpsLog,
    });
    expect(directory.longestIdleTimeout(60)).toBe(60);
    directory.resolve(app('short.wsgi', 'idle_timeout = 5\n'), undefined);
    expect(directory.longestIdleTimeout(60)).toBe(60);
    directory.resolve(app('patient.wsgi', 'idle_timeout = 900\n'), undefined);
    expect(directory.longestIdleTimeout(60)).toBe(900);
    expect(directory.longestIdleTimeout(1200)).toBe(1200);
    await directory.close();
  });
});

describe('AppDirectory.lookup', () => {
  const directory = () =>
    new AppDirectory({
      host: { ...emptyHostSettings(), allowedRoots: [ROOT] },
      allowedRoots: [],
      baseEnv: {},
      ops: silentOpsLog,
    });

  it('gives the same pool on every request, and a new one once the manager dropped it', async () => {
    const apps = directory();
    const file = app('kept.wsgi', 'reload_check_interval = 3600\n');
    const first = apps.lookup(file, undefined);
    expect(apps.lookup(file, undefined).pool).toBe(first.pool);
    // Reaped after its idle time without workers: the record kept for the hot path must not hand it out.
    apps.manager.reap(Date.now());
    apps.manager.reap(Date.now() + 601_000);
    expect(apps.manager.size).toBe(0);
    const next = apps.lookup(file, undefined);
    expect(next.pool).not.toBe(first.pool);
    expect(apps.manager.pools()).toEqual([next.pool]);
    await apps.close();
  });

  it('keeps a pool in use from being reaped, as the manager itself would', async () => {
    const apps = directory();
    const file = app('busy.wsgi', 'reload_check_interval = 3600\n');
    const pool = apps.lookup(file, undefined).pool;
    const now = Date.now();
    apps.manager.reap(now); // found idle (no workers yet): the clock starts
    apps.lookup(file, undefined); // a request: in use again
    apps.manager.reap(now + 601_000);
    expect(apps.manager.pools()).toEqual([pool]);
    await apps.close();
  });

  it('retires the pool when the settings change, and the next request gets a new one', async () => {
    const apps = directory();
    const file = app('changing.wsgi', 'reload_check_interval = 0\nprocesses = 2\n');
    const before = apps.lookup(file, undefined).pool;
    writeFileSync(`${file}.toml`, `log_dir = "${ROOT}/logs"\nreload_check_interval = 0\nprocesses = 3\n`);
    const after = apps.lookup(file, undefined).pool;
    expect(after).not.toBe(before);
    expect(apps.lookup(file, undefined).pool).toBe(after);
    await apps.close();
  });
});
