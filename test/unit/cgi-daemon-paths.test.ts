// Where the user's CGI daemon listens (the name the native launcher computes too) and the checks
// the Node entry makes of it before connecting, as the launcher does.

import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HOST_SETTINGS_FILE } from '../../src/app/settings.js';
import { daemonPaths, unsafeDaemonPath } from '../../src/cgi/daemon.js';
import { shortHash } from '../../src/short-hash.js';

describe('daemonPaths', () => {
  it('is cgi.sock (and cgi.log) for the default host settings, cgi-<hash>.sock for another file', () => {
    expect(daemonPaths('/home/a', null).socket).toBe('/home/a/.wsgikit/run/cgi.sock');
    expect(daemonPaths('/home/a', null).log).toBe('/home/a/.wsgikit/run/cgi.log');
    expect(daemonPaths('/home/a', DEFAULT_HOST_SETTINGS_FILE).socket).toBe('/home/a/.wsgikit/run/cgi.sock');
    // The launcher's C computes the same hash over the same bytes (src/cgi/launcher/wsgi-cgi.c).
    expect(shortHash('/tmp/lt/host.toml')).toBe('ed2a2913de50ac15');
    expect(daemonPaths('/home/a', '/tmp/lt/host.toml')).toEqual({
      socket: '/home/a/.wsgikit/run/cgi-ed2a2913de50ac15.sock',
      lock: '/home/a/.wsgikit/run/cgi-ed2a2913de50ac15.starting',
      log: '/home/a/.wsgikit/run/cgi-ed2a2913de50ac15.log',
    });
  });
});

describe('unsafeDaemonPath', () => {
  const base = mkdtempSync(join(tmpdir(), 'wsgikit-run-'));
  const run = (name: string, mode: number) => {
    const dir = join(base, name);
    mkdirSync(dir);
    chmodSync(dir, mode);
    return dir;
  };

  it('accepts an owner-only folder, and one not made yet', () => {
    expect(unsafeDaemonPath(join(run('ok', 0o700), 'cgi.sock'))).toBeNull();
    expect(unsafeDaemonPath(join(base, 'missing', 'cgi.sock'))).toBeNull();
  });

  it('refuses a folder or socket others may use, and a symlink', () => {
    expect(unsafeDaemonPath(join(run('open', 0o755), 'cgi.sock'))).toMatch(/may be used by others \(mode 755\)/);
    const dir = run('sock', 0o700);
    writeFileSync(join(dir, 'cgi.sock'), '');
    chmodSync(join(dir, 'cgi.sock'), 0o660);
    expect(unsafeDaemonPath(join(dir, 'cgi.sock'))).toMatch(/socket .* may be used by others/);
    symlinkSync(run('real', 0o700), join(base, 'link'));
    expect(unsafeDaemonPath(join(base, 'link', 'cgi.sock'))).toMatch(/is a symlink/);
  });
});
