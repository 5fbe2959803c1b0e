// wsgi-check against a gallery of broken setups, each a folder built here: the built CLI is run
// with --json and the finding ids are asserted; a correct app gives no warning or error and exit 0.
// The tests run as root, so every site belongs to uid 4242 and is checked with --as-user 4242:4242
// (suEXEC's docroot pointed at the site's folder with --suexec-docroot).

import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findInSafePath } from '../../src/app/python.js';

const CLI = fileURLToPath(new URL('../../dist/cli/wsgi-check.js', import.meta.url));
const PY = '/usr/bin/python3';
const UID = 4242;
const isRoot = process.getuid?.() === 0;

const GOOD_APP = `import os
# Imported as the host does: PATH is suEXEC's safe path and there is no HOME.
assert os.environ['PATH'] == '/usr/local/bin:/usr/bin:/bin', os.environ['PATH']
assert 'HOME' not in os.environ
assert os.environ.get('GREETING') == 'hello'

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [os.environ['GREETING'].encode()]
`;

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

interface Site {
  root: string;
  docroot: string;
  app: string;
  args: string[];
}

/** root/{host.toml, public_html/app.wsgi(+.toml)}, all owned by 4242:4242, folders 0755, files 0644. */
function site(app = GOOD_APP, sidecar = ''): Site {
  const root = mkdtempSync(join(tmpdir(), 'wsgi-check-'));
  made.push(root);
  const docroot = join(root, 'public_html');
  mkdirSync(docroot);
  const file = join(docroot, 'app.wsgi');
  writeFileSync(file, app);
  writeFileSync(`${file}.toml`, `log_dir = "${root}/logs"\n${sidecar}\n[env]\nGREETING = "hello"\n`);
  writeFileSync(join(root, 'host.toml'), `allowed_roots = ["${root}"]\ndefault_python = "${PY}"\n`);
  chownTree(root);
  chmodSync(root, 0o755);
  chmodSync(docroot, 0o755);
  chmodSync(file, 0o644);
  return {
    root,
    docroot,
    app: file,
    args: ['--host-settings', join(root, 'host.toml'), '--as-user', `${UID}:${UID}`, '--suexec-docroot', root],
  };
}

function chownTree(p: string): void {
  chownSync(p, UID, UID);
  if (statSync(p).isDirectory()) for (const name of readdirSync(p)) chownTree(join(p, name));
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Report {
  ok: boolean;
  findings: { id: string; severity: string; subject: string; message: string; fix: string | null }[];
  python: { path: string; reason: string; version: string };
  import: { ok: boolean; ms: number; kind: string | null } | null;
  log: { file: string; underDocroot: boolean };
}

async function check(s: Site, ...extra: string[]): Promise<{ code: number; report: Report; ids: string[] }> {
  const r = await run([s.app, '--json', ...s.args, ...extra]);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  const ids = report.findings.filter((f) => f.severity !== 'info').map((f) => f.id);
  return { code: r.code, report, ids };
}

describe.runIf(isRoot)('wsgi-check gallery', () => {
  it('a correct app: no warning or error, exit 0, Python and import reported', async () => {
    const s = site();
    const { code, report, ids } = await check(s);
    expect(ids).toEqual([]);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.python.path).toBe(PY);
    expect(report.python.reason).toContain('host default');
    expect(report.import?.ok).toBe(true);
    expect(report.import?.ms).toBeGreaterThanOrEqual(0);
    expect(report.log.underDocroot).toBe(false);
    // Under --mode suexec too.
    const strict = await check(s, '--mode', 'suexec');
    expect(strict.ids).toEqual([]);
    expect(strict.code).toBe(0);
  });

  it('a group-writable .wsgi', async () => {
    const s = site();
    chmodSync(s.app, 0o664);
    const { code, ids, report } = await check(s);
    expect(ids).toContain('app.file-group-writable');
    expect(code).toBe(1);
    expect(report.findings.find((f) => f.id === 'app.file-group-writable')?.fix).toBe(`chmod go-w ${s.app}`);
  });

  it('text mode prints the fix line', async () => {
    const s = site();
    chmodSync(s.app, 0o664);
    const r = await run([s.app, ...s.args]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`fix: chmod go-w ${s.app}`);
    expect(r.stdout).toMatch(/^Problems$/m);
    expect(r.stdout).toContain('[app.file-group-writable]');
  });

  it('a world-writable folder', async () => {
    const s = site();
    chmodSync(s.docroot, 0o777);
    const { code, ids } = await check(s);
    expect(ids).toContain('app.dir-world-writable');
    expect(code).toBe(1);
  });

  it('a .wsgi owned by another user', async () => {
    const s = site();
    chownSync(s.app, 12345, 12345);
    const { code, ids, report } = await check(s);
    expect(ids).toContain('app.owner');
    expect(report.findings.find((f) => f.id === 'app.owner')?.fix).toBe(`chown 4242:4242 ${s.app}`);
    expect(code).toBe(1);
  });

  it('a symlinked .wsgi inside the roots: a warning, exit 0', async () => {
    const s = site();
    const src = join(s.root, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'app.wsgi'), GOOD_APP);
    writeFileSync(join(src, 'app.wsgi.toml'), `log_dir = "${s.root}/logs"\n[env]\nGREETING = "hello"\n`);
    chownTree(src);
    rmSync(s.app);
    symlinkSync(join(src, 'app.wsgi'), s.app);
    const { code, ids } = await check(s);
    expect(ids).toEqual(['app.symlink']);
    expect(code).toBe(0);
  });

  it('a symlinked .wsgi pointing out of the roots', async () => {
    const s = site();
    const elsewhere = mkdtempSync(join(tmpdir(), 'wsgi-check-out-'));
    made.push(elsewhere);
    writeFileSync(join(elsewhere, 'app.wsgi'), GOOD_APP);
    rmSync(s.app);
    symlinkSync(join(elsewhere, 'app.wsgi'), s.app);
    const { code, ids } = await check(s);
    expect(ids).toContain('app.outside-roots');
    expect(code).toBe(1);
  });

  it('no application in the .wsgi', async () => {
    const s = site('app = None\n');
    const { code, ids, report } = await check(s);
    expect(ids).toContain('import.no-application');
    expect(report.import?.kind).toBe('no-application');
    expect(code).toBe(1);
  });

  it('a syntax error', async () => {
    const s = site('def application(environ, start_response)\n    return []\n');
    const { code, ids, report } = await check(s);
    expect(ids).toContain('import.syntax');
    expect(report.findings.find((f) => f.id === 'import.syntax')?.message).toContain('line 1');
    expect(code).toBe(1);
  });

  it('an ImportError, with a pip fix for the chosen Python', async () => {
    const s = site('import no_such_module_xyz\n\ndef application(e, s):\n    return []\n');
    const { code, ids, report } = await check(s);
    expect(ids).toContain('import.import');
    expect(report.findings.find((f) => f.id === 'import.import')?.fix).toContain(
      `${PY} -m pip install no_such_module_xyz`,
    );
    expect(code).toBe(1);
  });

  it('a venv named by the settings that does not exist', async () => {
    const s = site(GOOD_APP, 'python = "venv/bin/python"');
    const { code, ids } = await check(s);
    expect(ids).toContain('python.not-found');
    expect(code).toBe(1);
  });

  it('log_dir under the document root', async () => {
    const s = site(GOOD_APP);
    writeFileSync(`${s.app}.toml`, `log_dir = "${s.docroot}/logs"\n[env]\nGREETING = "hello"\n`);
    chownSync(`${s.app}.toml`, UID, UID);
    const { code, ids, report } = await check(s);
    expect(ids).toContain('log.under-docroot');
    expect(report.log.underDocroot).toBe(true);
    expect(code).toBe(1);
  });

  it('a shebang whose interpreter is not on the safe PATH', async () => {
    const name = 'wsgi-cgi-not-installed';
    expect(findInSafePath(name)).toBeNull();
    const s = site(`#!/usr/bin/env ${name}\n${GOOD_APP}`);
    chmodSync(s.app, 0o755);
    const loose = await check(s);
    expect(loose.ids).toContain('suexec.shebang-not-on-safe-path');
    expect(loose.report.findings.find((f) => f.id === 'suexec.shebang-not-on-safe-path')?.severity).toBe('warning');
    const strict = await check(s, '--mode', 'suexec');
    expect(strict.report.findings.find((f) => f.id === 'suexec.shebang-not-on-safe-path')?.severity).toBe('error');
    expect(strict.code).toBe(1);
  });

  it('a shebang naming an interpreter that does not exist, and no execute bit', async () => {
    const s = site(`#!/opt/nowhere/wsgi-cgi\n${GOOD_APP}`);
    const { code, ids } = await check(s, '--mode', 'suexec');
    expect(ids).toContain('shebang.interpreter-missing');
    expect(ids).toContain('suexec.not-executable');
    expect(code).toBe(1);
  });

  it('the setuid bit', async () => {
    const s = site();
    chmodSync(s.app, 0o4644);
    const { code, ids } = await check(s);
    expect(ids).toContain('app.setuid');
    expect(code).toBe(1);
  });

  it('the stub of an Action handler under suEXEC: group-writable, wrong owner, outside the docroot', async () => {
    const s = site();
    const cgiBin = join(s.root, 'cgi-bin');
    mkdirSync(cgiBin);
    writeFileSync(join(cgiBin, 'wsgi-cgi'), '#!/bin/sh\nexec /opt/nowhere/wsgi-cgi "$@"\n');
    chownSync(cgiBin, UID, UID);
    chownSync(join(cgiBin, 'wsgi-cgi'), UID, 0);
    chmodSync(join(cgiBin, 'wsgi-cgi'), 0o775);
    const { code, ids, report } = await check(s, '--mode', 'suexec', '--suexec-docroot', s.docroot);
    expect(ids).toEqual(
      expect.arrayContaining([
        'suexec.outside-docroot',
        'suexec.file-group-writable',
        'suexec.owner',
        'stub.target-missing',
      ]),
    );
    expect(report.findings.find((f) => f.id === 'suexec.owner')?.fix).toBe(
      `chown 4242:4242 ${join(cgiBin, 'wsgi-cgi')}`,
    );
    expect(code).toBe(1);
  });

  it('SetEnv in a .htaccess that suEXEC drops', async () => {
    const s = site();
    writeFileSync(
      join(s.docroot, '.htaccess'),
      'SetEnv GREETING hello\nSetEnv DJANGO_SETTINGS_MODULE mysite.settings\n',
    );
    const { ids, report } = await check(s);
    const dropped = report.findings.filter((f) => f.id === 'suexec.env-dropped');
    expect(dropped.map((f) => f.fix)).toEqual([
      expect.stringContaining('[env] DJANGO_SETTINGS_MODULE = "mysite.settings"'),
    ]);
    expect(ids).toContain('suexec.env-dropped');
  });

  it('body limits bite under --mode fcgi', async () => {
    const s = site();
    const { ids, report } = await check(s, '--mode', 'fcgi');
    expect(ids).toEqual(['limits.fcgid-max-request-len', 'limits.nginx-client-max-body-size']);
    expect(report.findings[0]?.fix).toContain('FcgidMaxRequestLen 104857600');
    expect(report.findings[1]?.fix).toContain('client_max_body_size 100m;');
  });

  it('--explain prints each layout with the repaired SCRIPT_NAME / PATH_INFO', async () => {
    const s = site();
    const r = await run([s.app, ...s.args, '--explain', '/app.wsgi/post/1', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      layouts: { layout: string; got: { SCRIPT_NAME: string; PATH_INFO: string }; rule: string; explain: string[] }[];
    };
    const by = Object.fromEntries(out.layouts.map((l) => [l.layout, l]));
    expect(by.direct?.got).toEqual({ SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/post/1' });
    expect(by['action-handler']?.got).toEqual({ SCRIPT_NAME: '/app.wsgi', PATH_INFO: '/post/1' });
    expect(by['action-handler']?.rule).toBe('action-handler');
    expect(by.rewrite?.got).toEqual({ SCRIPT_NAME: '', PATH_INFO: '/post/1' });
    expect(by.rewrite?.explain.length).toBeGreaterThan(0);
    const text = await run([s.app, ...s.args, '--explain', '/post/1']);
    expect(text.stdout).toContain('app gets:');
  });

  it('usage errors exit 2', async () => {
    const s = site();
    expect((await run([s.app, '--mode', 'apache'])).code).toBe(2);
    expect((await run([s.app, '--as-user', 'no-such-user-xyz'])).code).toBe(2);
    expect((await run(['--help'])).code).toBe(0);
  });
});
