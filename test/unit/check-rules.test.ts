// wsgi-check's pure pieces: findings from errors, severities by mode, shebangs, docroot guess, .htaccess
// SetEnv parsing, suEXEC's environment whitelist, end-of-life versions, body limits, ordering.

import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { emptyHostSettings, loadAppSettings } from '../../src/app/settings.js';
import { mayAccess } from '../../src/check/identity.js';
import { guessDocroot, shebangInterpreter } from '../../src/check/layout.js';
import { limitsChecks } from '../../src/check/limits-checks.js';
import { pypyChecks, pypyNurseryBytes, versionChecks } from '../../src/check/python-checks.js';
import { sortFindings } from '../../src/check/run-check.js';
import { htaccessEnv, suexecKeeps } from '../../src/check/suexec-checks.js';
import { WsgikitError } from '../../src/errors.js';
import { finding, findingText, wrapperSeverity, type CheckContext } from '../../src/check/types.js';
import type { Stats } from 'node:fs';

const tmp = mkdtempSync(join(tmpdir(), 'check-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('findingText', () => {
  /** An error built from its parts, checked to read as the one message users see. */
  const error = (text: string, problem: string, details: { fix?: string; fixBy?: string } = {}) => {
    const err = new WsgikitError('WSGIKIT_APP_REFUSED', problem, details);
    expect(err.message).toBe(text);
    return err;
  };

  it("takes an error's problem and fix apart and drops the fix's full stop", () => {
    expect(
      findingText(
        error('The file /a is writable by its group. Fix: chmod go-w /a', 'The file /a is writable by its group.', {
          fix: 'chmod go-w /a',
        }),
      ),
    ).toEqual({
      message: 'The file /a is writable by its group.',
      fix: 'chmod go-w /a',
    });
    expect(
      findingText(
        error('no python. Fix: set python = "/usr/bin/python3" in x.toml.', 'no python.', {
          fix: 'set python = "/usr/bin/python3" in x.toml.',
        }),
      ).fix,
    ).toBe('set python = "/usr/bin/python3" in x.toml');
    expect(findingText(error('plain', 'plain'))).toEqual({ message: 'plain', fix: null });
    expect(
      findingText(
        error('/a is not inside the chroot. Fix (the host): bind-mount the home.', '/a is not inside the chroot.', {
          fix: 'bind-mount the home.',
          fixBy: 'the host',
        }),
      ),
    ).toEqual({
      message: '/a is not inside the chroot.',
      fix: 'the host: bind-mount the home',
    });
  });

  it('joins a problem that ends with a line break to its fix without a space', () => {
    expect(error('bad line:\n  ^\nFix: correct it', 'bad line:\n  ^\n', { fix: 'correct it' }).problem).toBe(
      'bad line:\n  ^\n',
    );
  });
});

describe('wrapperSeverity', () => {
  it('warns for both wrappers by default, errs for the one chosen, skips the others', () => {
    expect(wrapperSeverity(null, 'suexec')).toBe('warning');
    expect(wrapperSeverity(null, 'cgiwrap')).toBe('warning');
    expect(wrapperSeverity('suexec', 'suexec')).toBe('error');
    expect(wrapperSeverity('suexec', 'cgiwrap')).toBeNull();
    expect(wrapperSeverity('cgiwrap', 'cgiwrap')).toBe('error');
    expect(wrapperSeverity('cgi', 'suexec')).toBeNull();
    expect(wrapperSeverity('fcgi', 'cgiwrap')).toBeNull();
  });
});

describe('shebangs and docroots', () => {
  it('reads the interpreter and the name env looks up', () => {
    expect(shebangInterpreter('#!/usr/bin/env wsgi-cgi')).toEqual({ path: '/usr/bin/env', lookup: 'wsgi-cgi' });
    expect(shebangInterpreter('#!/usr/bin/env -S node --no-warnings')).toEqual({
      path: '/usr/bin/env',
      lookup: 'node',
    });
    expect(shebangInterpreter('#! /usr/local/bin/wsgi-cgi')).toEqual({ path: '/usr/local/bin/wsgi-cgi', lookup: null });
    expect(shebangInterpreter('#!')).toBeNull();
  });

  it('guesses the nearest public_html, www, htdocs or html', () => {
    expect(guessDocroot('/home/u/public_html/blog/app.wsgi')).toBe('/home/u/public_html');
    expect(guessDocroot('/var/www/site/htdocs/app.wsgi')).toBe('/var/www/site/htdocs');
    expect(guessDocroot('/srv/apps/app.wsgi')).toBeNull();
  });
});

describe('environment', () => {
  it('keeps what suEXEC keeps and nothing else', () => {
    for (const kept of ['HTTP_HOST', 'SSL_CLIENT_S_DN', 'TZ', 'REQUEST_URI', 'DOCUMENT_ROOT'])
      expect(suexecKeeps(kept)).toBe(true);
    for (const dropped of ['HTTP_PROXY', 'PYTHONPATH', 'HOME', 'WSGI_ENV', 'DJANGO_SETTINGS_MODULE', 'LANG']) {
      expect(suexecKeeps(dropped)).toBe(false);
    }
  });

  it('parses SetEnv and PassEnv from .htaccess files up to the docroot', () => {
    const docroot = join(tmp, 'public_html');
    mkdirSync(join(docroot, 'blog'), { recursive: true });
    writeFileSync(join(docroot, '.htaccess'), 'SetEnv A "one two"\n  passenv B C\n# SetEnv D x\n');
    writeFileSync(join(docroot, 'blog', '.htaccess'), 'SetEnv E 5\n');
    writeFileSync(join(tmp, '.htaccess'), 'SetEnv OUTSIDE 1\n');
    const found = htaccessEnv(join(docroot, 'blog'), docroot).map((e) => [e.name, e.value, e.line]);
    expect(found).toEqual([
      ['E', '5', 1],
      ['A', 'one two', 1],
      ['B', null, 2],
      ['C', null, 2],
    ]);
  });
});

describe('versions', () => {
  it('2.7 and 3.6-3.8 are end-of-life warnings, 3.0-3.5 and 2.6 errors, 3.9+ fine', () => {
    expect(versionChecks('/p', 'x', '2.7.18', 'CPython')).toMatchObject([{ id: 'python.eol', severity: 'warning' }]);
    expect(versionChecks('/p', 'x', '2.6.9', 'CPython')).toMatchObject([{ id: 'python.eol', severity: 'error' }]);
    expect(versionChecks('/p', 'x', '3.5.10', 'CPython')).toMatchObject([
      { id: 'python.unsupported', severity: 'error' },
    ]);
    expect(versionChecks('/p', 'x', '3.8.20', 'CPython')).toMatchObject([{ id: 'python.eol', severity: 'warning' }]);
    expect(versionChecks('/p', 'x', '3.9.0', 'CPython')).toEqual([]);
    expect(versionChecks('/p', 'x', '3.13.1', 'PyPy')).toEqual([]);
  });

  it('the fix for an old venv recreates it', () => {
    const [f] = versionChecks(
      '/h/app/venv/bin/python',
      'venv beside the app: /h/app/venv/bin/python',
      '3.7.1',
      'CPython',
    );
    expect(f?.fix).toContain('rm -rf /h/app/venv && /usr/bin/python3 -m venv /h/app/venv');
  });
});

describe('PyPy nursery', () => {
  // Two CPUs, as /proc/cpuinfo lists them; PyPy takes the smallest "cache size".
  const cpus = (kb: number[]) =>
    kb.map((k, i) => `processor\t: ${i}\ncache size\t: ${k} KB\nflags\t\t: fpu\n`).join('\n');
  const reader = (kb: number[]) => () => cpus(kb);
  const MIB = 1024 * 1024;

  it('computes what PyPy does: half a cache over 8 MiB, else 4 MiB', () => {
    expect(pypyNurseryBytes(cpus([307200, 307200]))).toEqual({ nursery: 150 * MIB, cache: 300 * MIB });
    expect(pypyNurseryBytes(cpus([36608, 16384]))).toEqual({ nursery: 8 * MIB, cache: 16 * MIB });
    expect(pypyNurseryBytes(cpus([512]))).toEqual({ nursery: 4 * MIB, cache: MIB / 2 });
    expect(pypyNurseryBytes('')).toEqual({ nursery: 4 * MIB, cache: null });
  });

  it('warns for PyPy on a big-cache CPU unless PYPY_GC_NURSERY is set', () => {
    const [f] = pypyChecks('/usr/bin/pypy3', 'PyPy', {}, reader([307200]));
    expect(f).toMatchObject({ id: 'python.pypy-nursery', severity: 'warning' });
    expect(f!.message).toContain('300 MB');
    expect(f!.message).toContain('about 150 MB');
    expect(f!.fix).toContain('PYPY_GC_NURSERY = "4MB"');
    expect(pypyChecks('/usr/bin/pypy3', 'PyPy', { PYPY_GC_NURSERY: '8MB' }, reader([307200]))).toEqual([]);
    expect(pypyChecks('/usr/bin/pypy3', 'PyPy', {}, reader([36608]))).toEqual([]); // 18 MB: PyPy's design
    expect(pypyChecks('/usr/bin/python3', 'CPython', {}, reader([307200]))).toEqual([]);
  });
});

describe('body limits', () => {
  const app = join(tmp, 'limits.wsgi');
  writeFileSync(app, '');
  const ctx = (mode: CheckContext['mode'], maxMb: number | null): CheckContext => {
    writeFileSync(`${app}.toml`, maxMb === null ? '' : `max_body_mb = ${maxMb}\n`);
    const settings = loadAppSettings(app, emptyHostSettings());
    return { real: app, mode, settings } as CheckContext;
  };

  it('warn under fcgi, note on any host, skip under plain CGI', () => {
    expect(limitsChecks(ctx('fcgi', null)).map((f) => [f.id, f.severity])).toEqual([
      ['limits.fcgid-max-request-len', 'warning'],
      ['limits.nginx-client-max-body-size', 'warning'],
    ]);
    expect(limitsChecks(ctx(null, null)).map((f) => f.severity)).toEqual(['info', 'info']);
    expect(limitsChecks(ctx('suexec', null))).toEqual([]);
  });

  it('say nothing when the app stays under them; name the exact lines otherwise', () => {
    expect(limitsChecks(ctx('fcgi', 0.1))).toEqual([]);
    const [, nginx] = limitsChecks(ctx('fcgi', 2.5));
    expect(nginx?.fix).toMatch(/^client_max_body_size 3m;/);
    const big = limitsChecks(ctx('cgi', 2048));
    expect(big.map((f) => f.id)).toEqual(['limits.apache-limit-request-body']);
    expect(big[0]?.fix).toMatch(/^LimitRequestBody 2147483648/);
  });
});

describe('identity', () => {
  const st = (mode: number, uid: number, gid: number) =>
    ({ mode, uid, gid, isDirectory: () => true }) as unknown as Stats;
  it('answers from the owner, group or other bits', () => {
    const t = { uid: 4242, gid: 4242, name: null, home: null, why: '' };
    expect(mayAccess(t, st(0o700, 4242, 1), 'w')).toBe(true);
    expect(mayAccess(t, st(0o577, 4242, 4242), 'w')).toBe(false);
    expect(mayAccess(t, st(0o070, 1, 4242), 'w')).toBe(true);
    expect(mayAccess(t, st(0o755, 1, 1), 'w')).toBe(false);
    expect(mayAccess(t, st(0o757, 1, 1), 'w')).toBe(true);
  });
});

describe('sortFindings', () => {
  it('groups by family in report order, errors before warnings', () => {
    const ids = sortFindings([
      finding('limits.x', 'warning', '', ''),
      finding('suexec.a', 'warning', '', ''),
      finding('app.b', 'warning', '', ''),
      finding('suexec.b', 'error', '', ''),
      finding('app.a', 'error', '', ''),
    ]).map((f) => f.id);
    expect(ids).toEqual(['app.a', 'app.b', 'suexec.b', 'suexec.a', 'limits.x']);
  });
});
