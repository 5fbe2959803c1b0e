import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import { checkAppFile } from '../../src/app/locate.js';

// These tests run as root (CI and the dev machines do): chown to other uids needs it.
const isRoot = process.getuid?.() === 0;

let root: string; // the allowed root
let web: string; // root/public_html
let app: string; // root/public_html/site.wsgi
const temps: string[] = [];

function tempDir(prefix: string): string {
  // realpath: os.tmpdir() may itself sit behind a symlink (macOS /var → /private/var).
  const d = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  fs.chmodSync(d, 0o755);
  temps.push(d);
  return d;
}

beforeEach(() => {
  root = tempDir('wsgikit-locate-');
  web = path.join(root, 'public_html');
  fs.mkdirSync(web, { mode: 0o755 });
  fs.chmodSync(web, 0o755);
  app = path.join(web, 'site.wsgi');
  fs.writeFileSync(app, 'def application(environ, start_response): pass\n');
  fs.chmodSync(app, 0o644);
});
afterEach(() => {
  for (const d of temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function refusal(fn: () => unknown, code = 'WSGIKIT_APP_REFUSED'): WsgikitError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WsgikitError);
    expect((err as WsgikitError).code).toBe(code);
    return err as WsgikitError;
  }
  throw new Error('expected an error');
}

const opts = () => ({ allowedRoots: [root] });

describe('checkAppFile accepts', () => {
  it('an owned, read-only-for-others .wsgi inside an allowed root', () => {
    const st = fs.statSync(app);
    expect(checkAppFile(app, opts())).toEqual({ file: app, dir: web, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs });
  });

  it('a relative path, resolved against the current folder', () => {
    const rel = path.relative(process.cwd(), app);
    expect(checkAppFile(rel, opts()).file).toBe(app);
  });

  it('a symlink that stays within the allowed roots, reporting the real path', () => {
    const appDir = path.join(root, 'apps');
    fs.mkdirSync(appDir, { mode: 0o755 });
    const real = path.join(appDir, 'real.wsgi');
    fs.writeFileSync(real, 'x');
    fs.chmodSync(real, 0o644);
    const link = path.join(web, 'linked.wsgi');
    fs.symlinkSync('../apps/real.wsgi', link);
    const checked = checkAppFile(link, opts());
    expect(checked.file).toBe(real);
    expect(checked.dir).toBe(appDir);
  });

  it('an allowed root given through a symlink', () => {
    const elsewhere = tempDir('wsgikit-roots-');
    const linkedRoot = path.join(elsewhere, 'home-link');
    fs.symlinkSync(root, linkedRoot);
    expect(checkAppFile(path.join(linkedRoot, 'public_html', 'site.wsgi'), { allowedRoots: [linkedRoot] }).file).toBe(
      app,
    );
  });

  it.runIf(isRoot)('a file owned by the expected uid, or by root', () => {
    fs.chownSync(app, 12345, 12345);
    expect(checkAppFile(app, { ...opts(), expectedUid: 12345 }).uid).toBe(12345);
    fs.chownSync(app, 0, 0);
    expect(checkAppFile(app, { ...opts(), expectedUid: 12345 }).uid).toBe(0);
  });
});

describe('checkAppFile refuses', () => {
  it('a missing file, naming the path', () => {
    const missing = path.join(web, 'nope.wsgi');
    const err = refusal(() => checkAppFile(missing, opts()), 'WSGIKIT_APP_NOT_FOUND');
    expect(err.message).toContain(`${missing} does not exist`);
  });

  it('a dangling symlink, naming where it points', () => {
    const link = path.join(web, 'dangling.wsgi');
    fs.symlinkSync('gone.wsgi', link);
    const err = refusal(() => checkAppFile(link, opts()), 'WSGIKIT_APP_NOT_FOUND');
    expect(err.message).toContain('symlink to gone.wsgi');
  });

  it('a folder', () => {
    const err = refusal(() => checkAppFile(web, opts()));
    expect(err.message).toContain('is a folder');
  });

  it('a group-writable .wsgi, with the chmod fix', () => {
    fs.chmodSync(app, 0o664);
    const err = refusal(() => checkAppFile(app, opts()));
    expect(err.message).toContain(`The file ${app} is writable by its group`);
    expect(err.message).toContain(`Fix: chmod go-w ${app}`);
  });

  it('a world-writable .wsgi', () => {
    fs.chmodSync(app, 0o646);
    expect(refusal(() => checkAppFile(app, opts())).message).toContain('writable by others');
  });

  it('a group-writable folder between the root and the file, naming that folder', () => {
    fs.chmodSync(web, 0o775);
    const err = refusal(() => checkAppFile(app, opts()));
    expect(err.message).toContain(`The folder ${web} is writable by its group`);
    expect(err.message).toContain(`Fix: chmod go-w ${web}`);
  });

  it('a world-writable allowed root', () => {
    fs.chmodSync(root, 0o777);
    const err = refusal(() => checkAppFile(app, opts()));
    expect(err.message).toContain(`The folder ${root} is writable by group and others`);
    expect(err.message).toContain(`chmod go-w ${root}`);
  });

  it('a symlink out of the allowed roots, naming the root and the target', () => {
    const outside = tempDir('wsgikit-outside-');
    const target = path.join(outside, 'evil.wsgi');
    fs.writeFileSync(target, 'x');
    fs.chmodSync(target, 0o644);
    const link = path.join(web, 'escape.wsgi');
    fs.symlinkSync(target, link);
    const err = refusal(() => checkAppFile(link, opts()));
    expect(err.message).toContain(`${link} lies in the allowed root ${root}`);
    expect(err.message).toContain(`points to ${target}, outside every allowed root`);
    expect(err.message).toContain('Fix:');
  });

  it('a symlinked folder leading out of the allowed roots', () => {
    const outside = tempDir('wsgikit-outside-');
    fs.writeFileSync(path.join(outside, 'site.wsgi'), 'x');
    fs.chmodSync(path.join(outside, 'site.wsgi'), 0o644);
    fs.symlinkSync(outside, path.join(web, 'shared'));
    const err = refusal(() => checkAppFile(path.join(web, 'shared', 'site.wsgi'), opts()));
    expect(err.message).toContain(`points to ${path.join(outside, 'site.wsgi')}`);
  });

  it('a file outside every allowed root', () => {
    const other = tempDir('wsgikit-other-');
    const err = refusal(() => checkAppFile(app, { allowedRoots: [other, '/nonexistent-root'] }));
    expect(err.message).toContain(`${app} is outside every allowed root (${other}, /nonexistent-root)`);
  });

  it.runIf(isRoot)("uses the owner's home when no roots are configured", () => {
    const err = refusal(() => checkAppFile(app, { allowedRoots: [], expectedUid: 0 }));
    expect(err.message).toContain(`outside every allowed root (${os.userInfo().homedir})`);
  });

  it.runIf(isRoot)('a file owned by another non-root user, naming the setups that work, never a chown', () => {
    fs.chownSync(app, 12345, 12345);
    const err = refusal(() => checkAppFile(app, opts())); // expectedUid: this process, root
    expect(err.message).toContain(`The file ${app} belongs to uid 12345, but this runs as root (uid 0)`);
    expect(err.message).toContain('it runs only what its own user (or root) wrote');
    const err2 = refusal(() => checkAppFile(app, { ...opts(), expectedUid: 23456 }));
    expect(err2.message).toContain('belongs to uid 12345, but this runs as uid 23456');
    for (const setup of [
      'suEXEC',
      'wsgi-fcgi --user 12345',
      'have root own the code',
      '[trusted_owners] 23456 = ["12345"]',
    ]) {
      expect(err2.message).toContain(setup);
    }
    expect(err2.message).not.toMatch(/chown \d/);
  });

  it.runIf(isRoot)('a folder owned by another non-root user', () => {
    fs.chownSync(web, 12345, 12345);
    const err = refusal(() => checkAppFile(app, { ...opts(), expectedUid: 23456 }));
    expect(err.message).toContain(`The folder ${web} belongs to uid 12345`);
  });

  describe('with owners the host trusts for the runner ([trusted_owners])', () => {
    const trusted = (...uids: number[]) => ({ ...opts(), expectedUid: 23456, trustedOwners: new Set(uids) });

    it.runIf(isRoot)("accepts a trusted owner's file and folders", () => {
      fs.chownSync(app, 12345, 12345);
      fs.chownSync(web, 12345, 12345);
      expect(checkAppFile(app, trusted(12345)).uid).toBe(12345);
    });

    it.runIf(isRoot)('still refuses an owner it does not name', () => {
      fs.chownSync(app, 34567, 34567);
      expect(refusal(() => checkAppFile(app, trusted(12345))).message).toContain('belongs to uid 34567');
    });

    it.runIf(isRoot)("still refuses a trusted owner's file that group or others may write", () => {
      fs.chownSync(app, 12345, 12345);
      fs.chmodSync(app, 0o664);
      expect(refusal(() => checkAppFile(app, trusted(12345))).message).toContain('writable by its group');
      fs.chmodSync(app, 0o644);
      fs.chmodSync(web, 0o757);
      expect(refusal(() => checkAppFile(app, trusted(12345))).message).toContain(`The folder ${web} is writable`);
    });

    it.runIf(isRoot)("still refuses a symlink out of the roots to a trusted owner's file", () => {
      const elsewhere = tempDir('wsgikit-elsewhere-');
      const target = path.join(elsewhere, 'real.wsgi');
      fs.writeFileSync(target, 'x', { mode: 0o644 });
      fs.chownSync(target, 12345, 12345);
      const link = path.join(web, 'link.wsgi');
      fs.symlinkSync(target, link);
      expect(refusal(() => checkAppFile(link, trusted(12345))).message).toContain('outside every allowed root');
    });
  });

  it('a setuid .wsgi, with the chmod fix', () => {
    fs.chmodSync(app, 0o4755);
    const err = refusal(() => checkAppFile(app, opts()));
    expect(err.message).toContain('setuid bit');
    expect(err.message).toContain(`Fix: chmod ug-s ${app}`);
  });

  it('a setgid .wsgi', () => {
    fs.chmodSync(app, 0o2755);
    expect(refusal(() => checkAppFile(app, opts())).message).toContain('setgid bit');
  });

  it('quotes paths with spaces in the fix', () => {
    const spaced = path.join(web, 'my site.wsgi');
    fs.writeFileSync(spaced, 'x');
    fs.chmodSync(spaced, 0o666);
    expect(refusal(() => checkAppFile(spaced, opts())).message).toContain(`chmod go-w '${spaced}'`);
  });
});
