// The host's chroot setting without starting anything: the pattern in host.toml, the paths as a
// chrooted process sees them, the Python looked up inside, and every refusal with its fix. The
// root-owned trees these need are built only when the tests run as root.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CHROOT_BRIDGE,
  chrootCommand,
  expandChrootPattern,
  inspectChroot,
  planChroot,
  resolveInChroot,
  toInside,
} from '../../src/app/chroot.js';
import { choosePython } from '../../src/app/python.js';
import { emptyHostSettings, loadHostSettings } from '../../src/app/settings.js';
import { BRIDGE_MODULE } from '../../src/install-paths.js';

const isRoot = process.getuid?.() === 0;
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-chroot-unit-'));
  fs.chmodSync(dir, 0o755);
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function hostFile(text: string): string {
  const file = path.join(dir, 'host.toml');
  fs.writeFileSync(file, text, { mode: 0o644 });
  return file;
}

/** Matches a thrown WsgikitError with this code whose message holds each part, in order. */
function wsgikitError(code: string, ...parts: string[]) {
  const escaped = parts.map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return expect.objectContaining({ code, message: expect.stringMatching(new RegExp(escaped.join('[\\s\\S]*'))) });
}

describe('host.toml chroot', () => {
  it('is off unless the host file sets it', () => {
    expect(emptyHostSettings().chroot).toBeNull();
    expect(loadHostSettings(hostFile('allowed_roots = ["/home"]\n')).chroot).toBeNull();
  });

  it('takes an absolute pattern with %u, %U and %%', () => {
    expect(loadHostSettings(hostFile('chroot = "/srv/chroots/%u"\n')).chroot).toBe('/srv/chroots/%u');
    expect(loadHostSettings(hostFile('chroot = "/srv/%%/%U"\n')).chroot).toBe('/srv/%%/%U');
  });

  it.each([
    ['chroot = "srv/chroots/%u"', 'expected an absolute folder pattern'],
    ['chroot = true', 'expected an absolute folder pattern'],
    ['chroot = "/srv/chroots/%n"', '"%n" is not a known escape'],
    ['chroot = "/srv/chroots/%"', '"%" is not a known escape'],
    ['chroot = "/srv/../etc/%u"', 'it must not contain "." or ".." parts'],
    ['chroot = "/"', 'the root folder "/" is no chroot'],
  ])('refuses %s, with the line and the fix', (line, detail) => {
    const file = hostFile(`allowed_roots = ["/home"]\n${line}\n`);
    expect(() => loadHostSettings(file)).toThrow(
      wsgikitError('WSGIKIT_SETTINGS_INVALID', `${file}:2: chroot: ${detail}`, 'Fix: chroot = "/srv/chroots/%u"'),
    );
  });
});

describe('paths inside a chroot', () => {
  it('expands the pattern for the user', () => {
    expect(expandChrootPattern('/srv/chroots/%u', 1001, () => 'alice')).toBe('/srv/chroots/alice');
    expect(expandChrootPattern('/srv/%U/x%%', 1001, () => 'alice')).toBe('/srv/1001/x%');
  });

  it('maps a path in the chroot to the inside one, and leaves others (bind mounts) as they are', () => {
    expect(toInside('/srv/c/alice', '/srv/c/alice/home/alice/app.wsgi')).toBe('/home/alice/app.wsgi');
    expect(toInside('/srv/c/alice', '/srv/c/alice')).toBe('/');
    expect(toInside('/srv/c/alice', '/home/alice/app.wsgi')).toBe('/home/alice/app.wsgi');
    expect(toInside('/srv/c/alice', '/srv/c/alice2/x')).toBe('/srv/c/alice2/x');
  });

  it('resolves symlinks as the chrooted process would: absolute targets and ".." stay inside', () => {
    fs.mkdirSync(path.join(dir, 'usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'usr/bin/python3.11'), '');
    fs.symlinkSync('python3.11', path.join(dir, 'usr/bin/python3'));
    fs.symlinkSync('/usr/bin', path.join(dir, 'bin'));
    fs.symlinkSync('/../../../../etc', path.join(dir, 'escape'));
    expect(resolveInChroot(dir, '/bin/python3')).toBe(path.join(dir, 'usr/bin/python3.11'));
    expect(resolveInChroot(dir, '/bin/python3', false)).toBe(path.join(dir, 'usr/bin/python3'));
    expect(resolveInChroot(dir, '/../../usr/./bin/python3')).toBe(path.join(dir, 'usr/bin/python3.11'));
    expect(resolveInChroot(dir, '/escape')).toBeNull(); // /etc of the chroot, which does not exist
    expect(resolveInChroot(dir, '/usr/bin/python9')).toBeNull();
    fs.symlinkSync('loop', path.join(dir, 'loop'));
    expect(resolveInChroot(dir, '/loop')).toBeNull();
  });

  it('starts a worker through unshare with the inside paths', () => {
    const jail = { dir: '/srv/c/alice', appFile: '/home/alice/a.wsgi', cwd: '/home/alice', bridge: CHROOT_BRIDGE };
    expect(chrootCommand(jail, ['/usr/bin/python3', CHROOT_BRIDGE])).toEqual({
      command: '/usr/bin/unshare',
      args: [
        '--user',
        '--map-current-user',
        '--root=/srv/c/alice',
        '--wd=/home/alice',
        '--',
        '/usr/bin/python3',
        CHROOT_BRIDGE,
      ],
    });
  });

  it('chooses the Python inside the chroot: the built-in default there, or an error naming the chroot', () => {
    fs.mkdirSync(path.join(dir, 'usr/bin'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'site'));
    fs.writeFileSync(path.join(dir, 'site/app.wsgi'), '');
    expect(() => choosePython('/site/app.wsgi', { python: null }, { defaultPython: null }, undefined, dir)).toThrow(
      `exists in the chroot ${dir}`,
    );
    fs.writeFileSync(path.join(dir, 'usr/bin/python3.11'), '', { mode: 0o755 });
    fs.symlinkSync('/usr/bin/python3.11', path.join(dir, 'usr/bin/python3'));
    const choice = choosePython('/site/app.wsgi', { python: null }, { defaultPython: null }, undefined, dir);
    expect(choice).toEqual({
      path: '/usr/bin/python3',
      reason: `built-in default /usr/bin/python3 in the chroot ${dir}`,
    });
    // A venv beside the app, whose python is a link valid inside only.
    fs.mkdirSync(path.join(dir, 'site/venv/bin'), { recursive: true });
    fs.symlinkSync('/usr/bin/python3.11', path.join(dir, 'site/venv/bin/python'));
    expect(choosePython('/site/app.wsgi', { python: null }, { defaultPython: null }, undefined, dir).path).toBe(
      '/site/venv/bin/python',
    );
  });
});

describe('planChroot refusals', () => {
  it('refuses to chroot a worker that would run as root', () => {
    expect(() => planChroot('/srv/chroots/%u', '/home/a/app.wsgi', 0, '/etc/wsgikit/host.toml')).toThrow(
      wsgikitError('WSGIKIT_SETTINGS_INVALID', 'a chroot does not hold root. Fix: run wsgi-fcgi as the hosting user'),
    );
  });

  it('refuses a chroot that does not exist, naming the build script', () => {
    expect(() => planChroot(path.join(dir, '%U'), '/home/a/app.wsgi', 4242, null)).toThrow(
      wsgikitError(
        'WSGIKIT_SETTINGS_INVALID',
        `the chroot ${dir}/4242 (chroot = "${dir}/%U" in the host settings) does not exist`,
        `Fix: build it as root: scripts/build-chroot.sh ${dir}/4242`,
      ),
    );
  });

  it.skipIf(isRoot)('refuses a chroot that is not root-owned', () => {
    expect(() => planChroot(dir, '/home/a/app.wsgi', 4242, null)).toThrow(
      wsgikitError(
        'WSGIKIT_SETTINGS_INVALID',
        `${dir} belongs to uid ${process.getuid?.()}, not root`,
        `Fix: chown root:root ${dir}`,
      ),
    );
  });

  describe.skipIf(!isRoot)('with a root-owned chroot (as root)', () => {
    let jail: string;
    let app: string;
    beforeEach(() => {
      jail = path.join(dir, 'jail');
      fs.mkdirSync(path.join(jail, 'usr/lib/wsgikit'), { recursive: true, mode: 0o755 });
      fs.copyFileSync(BRIDGE_MODULE, path.join(jail, CHROOT_BRIDGE));
      fs.mkdirSync(path.join(jail, 'home/alice'), { recursive: true });
      app = path.join(jail, 'home/alice/app.wsgi');
      fs.writeFileSync(app, '');
    });

    it('maps an app that lives in the chroot to its inside path', () => {
      expect(planChroot(jail, app, 4242, null)).toEqual({
        dir: jail,
        appFile: '/home/alice/app.wsgi',
        cwd: '/home/alice',
        bridge: CHROOT_BRIDGE,
      });
    });

    it('refuses a chroot folder others may write, and one not owned by root', () => {
      fs.chmodSync(jail, 0o757);
      expect(() => planChroot(jail, app, 4242, null)).toThrow(
        wsgikitError(
          'WSGIKIT_SETTINGS_INVALID',
          `${jail} is writable by group or others, who could replace what the chroot holds. Fix: chmod go-w ${jail}`,
        ),
      );
      fs.chmodSync(jail, 0o755);
      fs.chownSync(jail, 4242, 4242);
      expect(() => planChroot(jail, app, 4242, null)).toThrow(
        wsgikitError('WSGIKIT_SETTINGS_INVALID', `Fix: chown root:root ${jail}`),
      );
    });

    it('refuses a missing or outdated bridge, with the install line', () => {
      fs.writeFileSync(path.join(jail, CHROOT_BRIDGE), '# an older bridge\n');
      expect(() => planChroot(jail, app, 4242, null)).toThrow(
        wsgikitError(
          'WSGIKIT_SETTINGS_INVALID',
          `the bridge ${CHROOT_BRIDGE} in the chroot ${jail} is not the one of this wsgikit`,
          `install -D -m 644 ${BRIDGE_MODULE} ${path.join(jail, CHROOT_BRIDGE)}`,
        ),
      );
      fs.rmSync(path.join(jail, CHROOT_BRIDGE));
      expect(() => planChroot(jail, app, 4242, null)).toThrow(wsgikitError('WSGIKIT_SETTINGS_INVALID', 'is missing'));
    });

    it('inspectChroot (wsgi-check) reports every refusal, in the order planChroot throws the first', () => {
      fs.chmodSync(jail, 0o775);
      fs.writeFileSync(path.join(jail, CHROOT_BRIDGE), '# an older bridge\n');
      const outside = path.join(dir, 'elsewhere.wsgi');
      fs.writeFileSync(outside, '');
      const found = inspectChroot(jail, outside, 4242, null);
      expect(found.problems.map((p) => [p.check, p.subject])).toEqual([
        ['folder-writable', jail],
        ['bridge-outdated', path.join(jail, CHROOT_BRIDGE)],
        ['app-not-inside', outside],
      ]);
      expect(found).toMatchObject({ given: jail, dir: jail, plan: null });
      expect(() => planChroot(jail, outside, 4242, null)).toThrow(found.problems[0]!.error);
      expect(inspectChroot(jail, outside, 0, null).problems.map((p) => p.check)).toEqual(['as-root']);
      fs.chmodSync(jail, 0o755);
      fs.copyFileSync(BRIDGE_MODULE, path.join(jail, CHROOT_BRIDGE));
      expect(inspectChroot(jail, app, 4242, null)).toMatchObject({
        problems: [],
        plan: { appFile: '/home/alice/app.wsgi' },
      });
    });

    it('refuses an app that is not the same file inside the chroot (no bind mount)', () => {
      const outside = path.join(dir, 'elsewhere.wsgi');
      fs.writeFileSync(outside, '');
      expect(() => planChroot(jail, outside, 4242, null)).toThrow(
        wsgikitError(
          'WSGIKIT_APP_REFUSED',
          `${outside} is not inside the chroot ${jail}: there, ${outside} does not exist`,
          'bind-mount the home into the chroot at the same path',
        ),
      );
    });
  });
});
