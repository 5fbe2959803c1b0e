import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCustomConfig, parseDefines, readSuexecConfig } from '../../src/check/suexec-config.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/suexec/', import.meta.url));
const PRISTINE_V = ` -D AP_DOC_ROOT="/srv/www"
 -D AP_GID_MIN=500
 -D AP_HTTPD_USER="www-data"
 -D AP_SAFE_PATH="/opt/bin:/usr/bin"
 -D AP_UID_MIN=1000
 -D AP_USERDIR_SUFFIX="web"
`;
const CUSTOM_V = ` -D SUEXEC_CONFIG_DIR=/etc/apache2/suexec/
 -D AP_GID_MIN=100
 -D AP_LOG_EXEC="/var/log/apache2/suexec.log"
`;

describe('parsing', () => {
  it("reads suexec -V's defines, quoted or not", () => {
    const d = parseDefines(PRISTINE_V + CUSTOM_V);
    expect(d.get('AP_DOC_ROOT')).toBe('/srv/www');
    expect(d.get('AP_USERDIR_SUFFIX')).toBe('web');
    expect(d.get('AP_UID_MIN')).toBe('1000');
    expect(d.get('SUEXEC_CONFIG_DIR')).toBe('/etc/apache2/suexec/');
  });

  it("reads the custom suEXEC's file: line 1 the document root, line 2 the userdir suffix, # turns one off", () => {
    expect(parseCustomConfig('/var/www\npublic_html/cgi-bin\n# comment\n')).toEqual({
      docroot: '/var/www',
      userdirSuffix: 'public_html/cgi-bin',
    });
    expect(parseCustomConfig('#/var/www\npublic_html\n')).toEqual({ docroot: null, userdirSuffix: 'public_html' });
    expect(parseCustomConfig('/srv\r\n#public_html\r\n')).toEqual({ docroot: '/srv', userdirSuffix: null });
    expect(parseCustomConfig('')).toEqual({ docroot: null, userdirSuffix: null });
  });
});

describe('readSuexecConfig: the suEXEC Apache runs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsgikit-suexec-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A Debian-like alternative: dir/suexec → dir/suexec-NAME. */
  function alternative(name: string): string {
    writeFileSync(join(dir, `suexec-${name}`), '');
    symlinkSync(join(dir, `suexec-${name}`), join(dir, 'suexec'));
    return join(dir, 'suexec');
  }

  it('pristine: the values it was built with, from -V, through the alternative', () => {
    const binary = alternative('pristine');
    expect(readSuexecConfig({ binary, versionOf: () => PRISTINE_V })).toEqual({
      kind: 'pristine',
      binary: join(dir, 'suexec-pristine'),
      docroot: '/srv/www',
      userdirSuffix: 'web',
      source: `${join(dir, 'suexec-pristine')} -V`,
      uidMin: 1000,
      gidMin: 500,
      safePath: ['/opt/bin', '/usr/bin'],
      limitsSource: `${join(dir, 'suexec-pristine')} -V`,
    });
  });

  it("pristine without -V (not root): Debian's values, and says how to see the real ones", () => {
    const c = readSuexecConfig({ binary: alternative('pristine'), versionOf: () => null });
    expect(c).toMatchObject({ kind: 'pristine', docroot: '/var/www', userdirSuffix: 'public_html' });
    expect(c?.source).toContain('-V, as root');
    expect(c).toMatchObject({ uidMin: 100, gidMin: 100, safePath: ['/usr/local/bin', '/usr/bin', '/bin'] });
    expect(c?.limitsSource).toBe("Debian's build");
  });

  it("custom: its file for Apache's user, Debian's default userdir public_html/cgi-bin", () => {
    const binary = alternative('custom');
    const c = readSuexecConfig({ binary, config: join(FIXTURES, 'custom-debian'), versionOf: () => CUSTOM_V });
    expect(c).toEqual({
      kind: 'custom',
      binary: join(dir, 'suexec-custom'),
      docroot: '/var/www',
      userdirSuffix: 'public_html/cgi-bin',
      source: join(FIXTURES, 'custom-debian'),
      // This -V names only AP_GID_MIN: the rest are Debian's.
      uidMin: 100,
      gidMin: 100,
      safePath: ['/usr/local/bin', '/usr/bin', '/bin'],
      limitsSource: "Debian's build",
    });
  });

  it('custom, told by its name when -V cannot run; a request kind turned off; a missing file refuses both', () => {
    const binary = alternative('custom');
    expect(
      readSuexecConfig({ binary, config: join(FIXTURES, 'custom-userdir-only'), versionOf: () => null }),
    ).toMatchObject({ kind: 'custom', docroot: null, userdirSuffix: 'public_html' });
    expect(readSuexecConfig({ binary, config: join(dir, 'absent'), versionOf: () => null })).toMatchObject({
      kind: 'custom',
      docroot: null,
      userdirSuffix: null,
    });
  });

  it('is null without a suEXEC', () => {
    expect(readSuexecConfig({ binary: join(dir, 'none') })).toBeNull();
  });
});
