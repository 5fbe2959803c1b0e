// Apache with apache2-suexec-custom (docs/suexec.md §7): its document root and userdir come from
// /etc/apache2/suexec/www-data, whose Debian default userdir is public_html/cgi-bin, so a .wsgi in
// ~user/public_html that pristine suEXEC runs is refused ("command not in docroot") while one in
// ~user/public_html/cgi-bin runs. wsgi-check and install-stub.sh must say the same as the real
// suEXEC does. This Apache runs the custom binary with Debian's default file in a mount namespace of
// its own (test/helpers/servers.ts startApache): the machine's suexec alternative is not touched.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/wsgi-run.js';
import {
  REPO,
  SUEXEC_CUSTOM,
  canPinSuexec,
  configFromGuide,
  curl,
  dumpLogsOnFailure,
  e2eDir,
  findBinary,
  freePort,
  hasApacheModules,
  isRoot,
  removeTempDirs,
  startApache,
  type WebServer,
} from '../helpers/servers.js';
import {
  createTestUser,
  installStub,
  installWsgiCgi,
  suexecLogMark,
  suexecLogSince,
  type TestUser,
} from '../helpers/apache-cgi.js';

const MODULES = ['cgid', 'userdir', 'suexec', 'dir', 'env', 'alias'];
const CONFIG = fileURLToPath(new URL('../fixtures/suexec/custom-debian', import.meta.url));
const CHECK = join(REPO, 'dist', 'cli', 'wsgi-check.js');
const ENV_APP = readFileSync(join(REPO, 'test', 'fixtures', 'e2e-cgi', 'env.wsgi'), 'utf8');
const available =
  isRoot() &&
  hasApacheModules(...MODULES) &&
  existsSync(SUEXEC_CUSTOM) &&
  canPinSuexec() &&
  findBinary('useradd') !== null &&
  findBinary('curl') !== null;

interface Report {
  findings: { id: string; severity: string; message: string; fix: string | null }[];
}

describe.skipIf(!available)('Apache with apache2-suexec-custom (its userdir: public_html/cgi-bin)', () => {
  let undoLink: () => void = () => {};
  let user: TestUser;
  let apache: WebServer;

  function userFile(file: string, text: string, mode: number): void {
    writeFileSync(file, text);
    chmodSync(file, mode);
    chownSync(file, user.uid, user.gid);
  }

  /** wsgi-check's findings for an app, told the custom suEXEC and its file, as the user. */
  function check(app: string): Report {
    let out: string;
    try {
      out = execFileSync(
        process.execPath,
        [
          CHECK,
          app,
          '--json',
          '--no-import',
          '--mode',
          'suexec',
          '--as-user',
          user.name,
          '--suexec-bin',
          SUEXEC_CUSTOM,
          '--suexec-config',
          CONFIG,
        ],
        { encoding: 'utf8' },
      );
    } catch (error) {
      out = (error as { stdout: string }).stdout;
    }
    return JSON.parse(out) as Report;
  }

  beforeAll(async () => {
    undoLink = installWsgiCgi();
    user = createTestUser();
    chmodSync(user.home, 0o711);
    const html = join(user.home, 'public_html');
    for (const d of [html, join(html, 'cgi-bin')]) {
      mkdirSync(d, { mode: 0o755 });
      chmodSync(d, 0o755);
      chownSync(d, user.uid, user.gid);
    }
    userFile(join(html, 'app.wsgi'), ENV_APP, 0o755);
    userFile(join(html, 'cgi-bin', 'app.wsgi'), ENV_APP, 0o755);
    const site = configFromGuide('suexec.md', 'apache-userdir', []);
    apache = await startApache(e2eDir('apache-suexec-custom'), await freePort(), MODULES, site, {
      suexec: { binary: SUEXEC_CUSTOM, config: CONFIG },
    });
  });

  afterAll(async () => {
    await apache?.stop();
    user?.remove();
    removeTempDirs();
    undoLink();
  });

  dumpLogsOnFailure(() => [['apache error log', apache?.errorLog() ?? '']]);

  it('runs the custom suEXEC', () => {
    expect(apache.errorLog()).toContain('suEXEC mechanism enabled');
  });

  it('~user/public_html/app.wsgi: wsgi-check says suEXEC refuses it, and it does ("command not in docroot")', async () => {
    const app = join(user.home, 'public_html', 'app.wsgi');
    const outside = check(app).findings.find((f) => f.id === 'suexec.outside-docroot');
    expect(outside?.severity).toBe('error');
    expect(outside?.message).toContain(`the userdir ${join(user.home, 'public_html', 'cgi-bin')}`);
    expect(outside?.message).toContain(`apache2-suexec-custom, ${CONFIG}`);
    const mark = suexecLogMark();
    const res = await curl(`${apache.url}/~${user.name}/app.wsgi/x`);
    expect(res.status).toBe(500);
    await eventually(() => suexecLogSince(mark).includes(`command not in docroot (${app})`), 'the refusal');
  });

  it('~user/public_html/cgi-bin/app.wsgi: wsgi-check passes it, and suEXEC runs it as the user', async () => {
    const ids = check(join(user.home, 'public_html', 'cgi-bin', 'app.wsgi')).findings.map((f) => f.id);
    expect(ids).not.toContain('suexec.outside-docroot');
    const res = await curl(`${apache.url}/~${user.name}/cgi-bin/app.wsgi/x`);
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ path_info: '/x', uid: user.uid });
  });

  it('install-stub.sh --check reads the same file: the stub folder passes, public_html itself does not', () => {
    const env = { SUEXEC_BIN: SUEXEC_CUSTOM, SUEXEC_CONFIG: CONFIG };
    installStub([user.name], env);
    expect(installStub(['--check', user.name], env)).toContain(
      `is under ${join(user.home, 'public_html', 'cgi-bin')} (userdir requests; apache2-suexec-custom, ${CONFIG})`,
    );
    expect(() => installStub(['--check', user.name, join(user.home, 'public_html')], env)).toThrow(
      /command not in docroot/,
    );
  });
});
