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
