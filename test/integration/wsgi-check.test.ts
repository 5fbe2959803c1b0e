// wsgi-check against a gallery of broken setups, each a folder built here: the built CLI is run
// with --json and the finding ids are asserted; a correct app gives no warning or error and exit 0.
// The tests run as root, so every site belongs to uid 4242 and is checked with --as-user 4242:4242
// (suEXEC's docroot pointed at the site's folder with --suexec-docroot).

import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findInSafePath } from '../../src/app/python.js';
import { homeOf } from '../../src/app/locate.js';
import { daemonPaths } from '../../src/cgi/daemon.js';
import { daemonsOf, isAlive } from '../helpers/apache-cgi.js';
import { site as cgiSite } from '../helpers/cgi-site.js';
import { BUILD_CHROOT, chrootUnavailable } from '../helpers/chroot.js';
import { eventually } from '../helpers/wsgi-run.js';

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
/** `host`: more lines for host.toml, or a function of the site's root that gives them. */
function site(app = GOOD_APP, sidecar = '', host: string | ((root: string) => string) = ''): Site {
  const root = mkdtempSync(join(tmpdir(), 'wsgi-check-'));
  made.push(root);
  const docroot = join(root, 'public_html');
  mkdirSync(docroot);
  const file = join(docroot, 'app.wsgi');
  writeFileSync(file, app);
  writeFileSync(`${file}.toml`, `log_dir = "${root}/logs"\n${sidecar}\n[env]\nGREETING = "hello"\n`);
  writeFileSync(
    join(root, 'host.toml'),
    `allowed_roots = ["${root}"]\ndefault_python = "${PY}"\n${typeof host === 'string' ? host : host(root)}\n`,
  );
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
  import: { ok: boolean; ms: number; kind: string | null; chroot: string | null } | null;
  log: { file: string; underDocroot: boolean };
  chroot: { pattern: string; folder: string | null; dir: string | null; ok: boolean } | null;
  sendfile: { mode: string; summary: string };
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
    expect(report.findings.find((f) => f.id === 'app.owner')?.fix).toContain('[trusted_owners] 4242 = ["12345"]');
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

  // A stock host without suEXEC: www-data's home /var/www is root's, so ~/.wsgikit cannot be made.
  it.skipIf(existsSync('/var/www/.wsgikit'))(
    "no log_dir and a home the runner cannot write: served, the log in the server's error log, one fix",
    async () => {
      const s = site(GOOD_APP);
      writeFileSync(`${s.app}.toml`, '[env]\nGREETING = "hello"\n');
      chownSync(s.root, 0, 0);
      for (const p of [s.docroot, s.app, `${s.app}.toml`, join(s.root, 'host.toml')]) chownSync(p, 0, 0);
      const www = ['--as-user', 'www-data', '--mode', 'cgi'];
      const { code, report } = await check({ ...s, args: [...s.args.slice(0, 2), ...www] });
      const byId = new Map(report.findings.map((f) => [f.id, f]));
      const fix = 'sudo install -d -o www-data -g www-data -m 700 /var/www/.wsgikit';
      expect(byId.get('log.in-server-log')).toMatchObject({ severity: 'warning', fix });
      expect(byId.get('log.in-server-log')?.message).toContain("web server's error log");
      expect(byId.get('daemon.run-dir-not-writable')).toMatchObject({ severity: 'warning', fix });
      expect(byId.has('log.not-writable')).toBe(false);
      expect(code).toBe(0);
    },
  );

  it('code another user owns, run as www-data: refused with the setups that work, unless the host trusts that owner', async () => {
    const nobody = 65534;
    const plain = site(GOOD_APP);
    const www = ['--as-user', 'www-data', '--mode', 'cgi'];
    const prepare = (s: Site) => {
      mkdirSync(join(s.root, 'logs'), { mode: 0o700 });
      chownSync(join(s.root, 'logs'), 33, 33);
      for (const p of [s.root, s.docroot, s.app, `${s.app}.toml`]) chownSync(p, nobody, nobody);
      chownSync(join(s.root, 'host.toml'), 0, 0);
      return { ...s, args: [...s.args.slice(0, 2), ...www] };
    };
    const refused = await check(prepare(plain));
    const owner = refused.report.findings.find((f) => f.id === 'app.owner');
    expect(owner?.message).toContain('belongs to nobody (uid 65534), but this runs as www-data (uid 33)');
    expect(owner?.fix).toContain('wsgi-fcgi --user nobody');
    expect(owner?.fix).toContain('[trusted_owners] www-data = ["nobody"]');
    expect(owner?.fix).not.toMatch(/chown/);
    expect(refused.ids).toContain('app.dir-owner');
    expect(refused.code).toBe(1);

    const trusting = prepare(site(GOOD_APP, '', '[trusted_owners]\nwww-data = ["nobody"]'));
    const served = await check(trusting);
    expect(served.ids.filter((id) => id.startsWith('app.'))).toEqual([]);
    expect(served.report.import?.ok).toBe(true);
  });

  it('a log_dir the runner cannot write is still an error', async () => {
    const s = site(GOOD_APP);
    writeFileSync(`${s.app}.toml`, `log_dir = "/var/www/no-such-folder/logs"\n[env]\nGREETING = "hello"\n`);
    chownSync(`${s.app}.toml`, UID, UID);
    const { code, report } = await check(s);
    expect(report.findings.find((f) => f.id === 'log.not-writable')?.severity).toBe('error');
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

  it("judges ids and the shebang by the active suEXEC's own AP_UID_MIN, AP_GID_MIN and AP_SAFE_PATH", async () => {
    const s = site(`#!/usr/bin/env node\n${GOOD_APP}`);
    chmodSync(s.app, 0o755);
    // A suEXEC built with other limits: -V prints them to stderr, as the real one does.
    const bin = join(s.root, 'suexec-pristine');
    writeFileSync(
      bin,
      `#!/bin/sh\ncat >&2 <<'EOF'\n -D AP_DOC_ROOT="${s.root}"\n -D AP_GID_MIN=${UID + 1}\n` +
        ` -D AP_SAFE_PATH="/opt/wsgikit-nothing-here"\n -D AP_UID_MIN=${UID + 1}\n -D AP_USERDIR_SUFFIX="public_html"\nEOF\n`,
      { mode: 0o755 },
    );
    const built = await check(s, '--mode', 'suexec', '--suexec-bin', bin);
    const message = (id: string) => built.report.findings.find((f) => f.id === id)?.message ?? '';
    expect(built.ids).toEqual(
      expect.arrayContaining(['suexec.uid-min', 'suexec.gid-min', 'suexec.node-not-on-safe-path']),
    );
    expect(message('suexec.uid-min')).toContain(`AP_UID_MIN ${UID + 1} (${bin} -V)`);
    expect(message('suexec.node-not-on-safe-path')).toContain('/opt/wsgikit-nothing-here');
    // The import ran with that PATH too, as suEXEC would start the app.
    expect(built.report.import?.ok).toBe(false);
    // Debian's build: the same site passes all three.
    const debian = await check(s, '--mode', 'suexec', '--suexec-bin', '/usr/lib/apache2/suexec-pristine');
    expect(debian.ids).not.toContain('suexec.uid-min');
    expect(debian.ids).not.toContain('suexec.gid-min');
    expect(debian.ids).not.toContain('suexec.node-not-on-safe-path');
    expect(debian.report.import?.ok).toBe(true);
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

  // apache2-suexec-custom reads its document root and userdir from a file (Debian's userdir there is
  // public_html/cgi-bin): a .wsgi that pristine suEXEC would run can fail there with "command not in
  // docroot". wsgi-check is told the binary and the file, so the machine's own alternative is not used.
  it.skipIf(!existsSync('/usr/lib/apache2/suexec-custom'))(
    "apache2-suexec-custom: the document root of its file, not pristine's",
    async () => {
      const s = site(`#!/usr/bin/env wsgi-cgi\n${GOOD_APP}`);
      chmodSync(s.app, 0o755);
      const config = join(s.root, 'suexec-www-data');
      const args = [...s.args.slice(0, 4), '--mode', 'suexec', '--suexec-bin', '/usr/lib/apache2/suexec-custom'];
      const checkWith = async (lines: string) => {
        writeFileSync(config, lines);
        return check({ ...s, args: [...args, '--suexec-config', config] });
      };
      const narrow = await checkWith(`${s.docroot}/cgi-bin\npublic_html/cgi-bin\n`);
      const outside = narrow.report.findings.find((f) => f.id === 'suexec.outside-docroot');
      expect(outside?.severity).toBe('error');
      expect(outside?.message).toContain(`the document root ${s.docroot}/cgi-bin`);
      expect(outside?.message).toContain(`apache2-suexec-custom, ${config}`);
      expect(outside?.message).toContain('command not in docroot');
      expect(narrow.code).toBe(1);
      const wide = await checkWith(`${s.root}\npublic_html/cgi-bin\n`);
      expect(wide.ids).not.toContain('suexec.outside-docroot');
      const off = await checkWith(`#${s.root}\npublic_html/cgi-bin\n`);
      expect(off.report.findings.find((f) => f.id === 'suexec.outside-docroot')?.message).toContain(
        'no document root (turned off)',
      );
      // Pristine's compiled-in /var/www (or --suexec-docroot) decides there instead.
      const pristine = await check({
        ...s,
        args: [...s.args, '--mode', 'suexec', '--suexec-bin', '/usr/lib/apache2/suexec-pristine'],
      });
      expect(pristine.ids).not.toContain('suexec.outside-docroot');
    },
  );

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

describe.runIf(isRoot)('wsgi-check and the host setting sendfile', () => {
  it('reports the mode in effect; none is the default', async () => {
    const s = site();
    const { report } = await check(s);
    expect(report.sendfile.mode).toBe('none');
    const text = await run([s.app, ...s.args, '--no-import']);
    expect(text.stdout).toContain('Files:    sendfile = "none": wsgikit itself sends');
  });

  it('x-accel-redirect: warns when the app folder is under no [sendfile_map] prefix, with the map line', async () => {
    const s = site(GOOD_APP, '', 'sendfile = "x-accel-redirect"\n[sendfile_map]\n"/srv/files/" = "/_files/"');
    const { code, ids, report } = await check(s);
    expect(ids).toEqual(['sendfile.not-mapped']);
    expect(code).toBe(0);
    const f = report.findings.find((x) => x.id === 'sendfile.not-mapped')!;
    expect(f.message).toContain(`the app's folder ${s.docroot} is under no [sendfile_map] prefix (/srv/files/)`);
    expect(f.fix).toContain(`"${s.root}/" = "/_wsgikit_files${s.root}/"`);
    expect(f.fix).toContain(`location /_wsgikit_files${s.root}/ { internal; alias ${s.root}/; }`);
    expect(report.sendfile.mode).toBe('x-accel-redirect');
  });

  it('x-accel-redirect: nothing to say when a prefix holds the app folder', async () => {
    const s = site(GOOD_APP, '', (root) => `sendfile = "x-accel-redirect"\n[sendfile_map]\n"${root}/" = "/_files/"`);
    expect((await check(s)).ids).toEqual([]);
  });

  it('x-sendfile: a note that the web server reads the files, and whether the app folder is readable by others', async () => {
    const s = site(GOOD_APP, '', 'sendfile = "x-sendfile"');
    const open = await check(s);
    expect(open.ids).toEqual([]);
    const note = open.report.findings.find((f) => f.id === 'sendfile.web-server-reads')!;
    expect(note.severity).toBe('info');
    expect(note.message).toContain(`The app's folder ${s.docroot} (mode 0755) is readable by others.`);

    chmodSync(s.docroot, 0o711);
    expect((await check(s)).report.findings.find((f) => f.id === 'sendfile.web-server-reads')!.message).toContain(
      'is NOT readable by others',
    );
  });

  it('x-sendfile: warns with the fix when others may not search a folder down to the app', async () => {
    const s = site(GOOD_APP, '', 'sendfile = "x-sendfile"');
    chmodSync(s.root, 0o750);
    const { code, ids, report } = await check(s);
    expect(ids).toEqual(['sendfile.folder-closed']);
    expect(code).toBe(0);
    expect(report.findings.find((f) => f.id === 'sendfile.folder-closed')?.fix).toMatch(
      new RegExp(`^chmod o\\+x ${s.root} `),
    );
  });
});

describe.runIf(isRoot)('wsgi-check --sendfile: a service that overrides the host mode', () => {
  it('checks the mode the service would use, and says where it comes from', async () => {
    const s = site(GOOD_APP, '', 'sendfile = "none"');
    chmodSync(s.root, 0o750);
    const { code, ids, report } = await check(s, '--sendfile', 'x-sendfile');
    expect(report.sendfile.mode).toBe('x-sendfile');
    expect(report.sendfile.summary).toContain("wsgi-fcgi's --sendfile");
    expect(ids).toEqual(['sendfile.folder-closed']);
    expect(report.findings.find((f) => f.id === 'sendfile.folder-closed')!.message).toContain(
      `sendfile = "x-sendfile" in wsgi-fcgi's --sendfile`,
    );
    expect(code).toBe(0);
    expect((await check(s)).ids).toEqual([]); // the host's own "none" has nothing to say
  });

  it('an override the service would refuse (x-accel-redirect without [sendfile_map]) is an error', async () => {
    const s = site(GOOD_APP, '', 'sendfile = "x-sendfile"');
    const { code, ids, report } = await check(s, '--sendfile', 'x-accel-redirect');
    expect(ids).toContain('sendfile.override-invalid');
    expect(code).toBe(1);
    expect(report.sendfile.mode).toBe('x-sendfile');
  });

  it('an unknown mode is a usage error', async () => {
    const s = site();
    expect((await run([s.app, ...s.args, '--sendfile', 'x-lighttpd'])).code).toBe(2);
  });
});

describe.runIf(isRoot)('wsgi-check and the host setting chroot: refusals found without entering it', () => {
  it('a chroot that does not exist: the build command, and no import', async () => {
    const s = site(GOOD_APP, '', (root) => `chroot = "${root}/chroots/%U"`);
    const { code, ids, report } = await check(s);
    expect(ids).toEqual(['chroot.missing']);
    expect(code).toBe(1);
    expect(report.findings[0]?.fix).toBe(`build it as root: scripts/build-chroot.sh ${s.root}/chroots/${UID}`);
    expect(report.chroot).toEqual({
      pattern: `${s.root}/chroots/%U`,
      folder: `${s.root}/chroots/${UID}`,
      dir: null,
      ok: false,
    });
    expect(report.import).toBeNull();
    expect(report.findings.map((f) => f.id)).toContain('import.not-run');
  });

  it('every problem at once: a folder the user owns, no bridge, the app not inside, no Python inside', async () => {
    const s = site(GOOD_APP, '', (root) => `chroot = "${root}/jail"`);
    const jail = join(s.root, 'jail');
    mkdirSync(jail, { mode: 0o755 });
    const { code, ids, report } = await check(s);
    expect(ids).toEqual([
      'chroot.folder-owner',
      'chroot.bridge-missing',
      'chroot.app-not-inside',
      'chroot.python-missing', // the host's default_python, looked up inside the empty chroot
    ]);
    expect(code).toBe(1);
    const fixes = Object.fromEntries(report.findings.map((f) => [f.id, f.fix]));
    expect(fixes['chroot.folder-owner']).toBe(`chown root:root ${s.root}`);
    expect(fixes['chroot.bridge-missing']).toContain(`${jail}/usr/lib/wsgikit/wsgi_bridge.py`);
    expect(fixes['chroot.app-not-inside']).toContain('bind-mount the home into the chroot at the same path');
    // The run is refused, so nothing is imported and no Python is picked.
    expect(report.import).toBeNull();
    expect(report.chroot?.ok).toBe(false);
    const text = await run([s.app, ...s.args]);
    expect(text.stdout).toContain('The chroot (host setting chroot)');
    expect(text.stdout).toContain(`Chroot:   ${jail}: REFUSED`);
  });
});

const noChroot = chrootUnavailable();
if (noChroot !== null) console.warn(`wsgi-check.test.ts: the chroot import tests are skipped: ${noChroot}`);

/** A chroot that the test owns: the host's pattern is `${base}/chroots/%U`, the site lives inside it. */
describe.runIf(isRoot && noChroot === null)('wsgi-check and the host setting chroot: a built chroot', () => {
  let base: string;
  let jail: string;
  /** Outside the chroot only: the app asserts it cannot see it. */
  let marker: string;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'wsgi-check-chroot-'));
    made.push(base);
    chmodSync(base, 0o755);
    jail = join(base, 'chroots', String(UID));
    execFileSync('sh', [BUILD_CHROOT, jail], { stdio: 'pipe' });
    marker = join(base, 'only-outside');
    writeFileSync(marker, '');
  }, 120_000);

  /** A site in the chroot's /home/NAME, as a home kept inside the chroot (docs/chroot.md). */
  function chrootSite(name: string, app: string, sidecar = ''): Site {
    const home = join(jail, 'home', name);
    const docroot = join(home, 'public_html');
    mkdirSync(docroot, { recursive: true });
    chmodSync(join(jail, 'home'), 0o755);
    const file = join(docroot, 'app.wsgi');
    writeFileSync(file, app);
    writeFileSync(`${file}.toml`, `log_dir = "${home}/logs"\n${sidecar}\n[env]\nGREETING = "hello"\n`);
    chownTree(home);
    chmodSync(home, 0o755);
    chmodSync(docroot, 0o755);
    const hostFile = join(base, `${name}.toml`);
    writeFileSync(hostFile, `allowed_roots = ["${home}"]\nchroot = "${base}/chroots/%U"\n`);
    return {
      root: home,
      docroot,
      app: file,
      args: ['--host-settings', hostFile, '--as-user', `${UID}:${UID}`, '--suexec-docroot', home],
    };
  }

  const CHROOTED_APP = () => `import os
# Only inside the chroot: its own bridge is there, and a file outside is not.
assert os.path.exists('/usr/lib/wsgikit/wsgi_bridge.py')
assert not os.path.exists(${JSON.stringify(marker)})
assert os.getuid() == ${UID}
${GOOD_APP}`;

  it('imports the app inside the chroot, with its Python, and reports the folder', async () => {
    const s = chrootSite('good', CHROOTED_APP());
    const { code, ids, report } = await check(s);
    expect(ids).toEqual([]);
    expect(code).toBe(0);
    expect(report.import?.ok).toBe(true);
    expect(report.import?.chroot).toBe(jail);
    expect(report.python.path).toBe(PY);
    expect(report.python.reason).toContain(`in the chroot ${jail}`);
    expect(report.chroot).toEqual({ pattern: `${base}/chroots/%U`, folder: jail, dir: jail, ok: true });
    // Without the import, the version is asked of the chroot's Python, in the chroot.
    const probed = await check(s, '--no-import');
    expect(probed.report.python.version).toMatch(/^3\.\d+\.\d+$/);
    const text = await run([s.app, ...s.args]);
    expect(text.stdout).toContain(`inside the chroot ${jail}`);
    expect(text.stdout).toContain(`Chroot:   ${jail}: the app's workers run in it`);
  });

  it('an import error inside the chroot is reported as one, with the chroot named', async () => {
    const s = chrootSite('broken', `import no_such_module_xyz\n${CHROOTED_APP()}`);
    const { code, ids, report } = await check(s);
    expect(ids).toEqual(['import.import']);
    expect(report.import?.chroot).toBe(jail);
    expect(code).toBe(1);
  });

  it('a Python the settings name that is not in the chroot', async () => {
    const s = chrootSite('nopython', CHROOTED_APP(), 'python = "/usr/bin/python3.99"');
    const { code, ids, report } = await check(s);
    expect(ids).toEqual(['chroot.python-missing']);
    expect(report.findings[0]?.message).toContain(`in the chroot ${jail}`);
    expect(report.findings[0]?.fix).toContain(`scripts/build-chroot.sh ${jail} PYTHON`);
    expect(code).toBe(1);
  });

  it('a group-writable chroot folder and an outdated bridge: both, with their fixes, and no import', async () => {
    const s = chrootSite('refused', CHROOTED_APP());
    const bridge = join(jail, 'usr/lib/wsgikit/wsgi_bridge.py');
    const original = readFileSync(bridge);
    chmodSync(jail, 0o775);
    writeFileSync(bridge, Buffer.concat([original, Buffer.from('\n# another version\n')]));
    try {
      const { code, ids, report } = await check(s);
      expect(ids).toEqual(['chroot.folder-writable', 'chroot.bridge-outdated']);
      expect(report.findings[0]?.fix).toBe(`chmod go-w ${jail}`);
      expect(report.findings[1]?.fix).toContain(`install -D -m 644`);
      expect(report.import).toBeNull();
      expect(code).toBe(1);
    } finally {
      chmodSync(jail, 0o755);
      writeFileSync(bridge, original);
    }
    expect((await check(s)).ids).toEqual([]);
  });
});

// --start runs the daemon as its starter, so this site belongs to root (the user running the
// tests) and its daemon's socket is in root's ~/.wsgikit/run, as wsgi-cgi's own tests have it.
describe.runIf(isRoot)('wsgi-check --start', () => {
  const START_APP = `import os, sys
print('imported by pid %d' % os.getpid())
sys.stdout.flush()

def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'warm']
`;

  it('starts the daemon with the app imported and a worker running, before any request', async () => {
    const s = cgiSite(START_APP, '', 60);
    try {
      const r = await run([s.app, '--json', '--host-settings', s.hostSettings, '--start']);
      const out = JSON.parse(r.stdout) as {
        ok: boolean;
        start: { ok: boolean; socket: string; log: string; pid?: number };
      };
      expect(out.ok, r.stdout).toBe(true);
      expect(out.start.ok, r.stdout).toBe(true);
      expect(r.code).toBe(0);
      // The daemon's own log, which holds its ready line.
      expect(out.start.log).toBe(s.daemonLogFile);
      expect(readFileSync(out.start.log, 'utf8')).toContain('"msg":"wsgi-fcgi ready"');
      // Found by its --listen argument (never by name).
      const [pid] = daemonsOf(process.getuid!(), out.start.socket);
      expect(out.start.pid).toBe(pid);
      // No request was sent: only a preload imports the app in the daemon's worker. (The check's
      // own import runs apart and writes nothing to the app's log.)
      await eventually(() => s.log().includes('[wsgikit] app loaded in'), 'the app loaded with no request', 5000);
      expect(s.log()).toMatch(/\d+ stdout\W+imported by pid \d+/);
      const text = await run([s.app, '--host-settings', s.hostSettings, '--start']);
      expect(text.stdout).toContain(
        `Daemon already listening on ${out.start.socket} (the user's, for every app; its own log: ${out.start.log})`,
      );
      expect(text.stdout).toContain(`, the app imported and a worker running (pid `);
      expect(text.stdout).toContain('exits after 60 s without requests (idle_timeout)');

      // Another app of the user's, started while the daemon runs: imported in that daemon now.
      const other = join(s.docroot, 'other.wsgi');
      writeFileSync(other, START_APP.replace('imported by', 'other imported by'), { mode: 0o644 });
      writeFileSync(`${other}.toml`, `log_dir = "${s.root}/logs"\nidle_timeout = 60\n`, { mode: 0o644 });
      const second = await run([other, '--json', '--host-settings', s.hostSettings, '--start']);
      const started = JSON.parse(second.stdout) as { start: { ok: boolean; imported: boolean; message: string } };
      expect(started.start, second.stdout).toMatchObject({ ok: true, imported: true });
      expect(second.code).toBe(0);
      expect(s.log()).toMatch(/\d+ stdout\W+other imported by pid \d+/);
      expect(daemonsOf(process.getuid!(), out.start.socket)).toEqual([pid]);

      // One that fails to load: the daemon's answer says so, with the incident in the app's log.
      const broken = join(s.docroot, 'broken.wsgi');
      writeFileSync(broken, 'import no_such_module_for_start\n', { mode: 0o644 });
      writeFileSync(`${broken}.toml`, `log_dir = "${s.root}/logs"\nidle_timeout = 60\n`, { mode: 0o644 });
      const failed = await run([broken, '--json', '--host-settings', s.hostSettings, '--start', '--no-import']);
      const report = JSON.parse(failed.stdout) as { start: { ok: boolean; imported: boolean; incident: string } };
      expect(report.start, failed.stdout).toMatchObject({ ok: false, imported: false });
      expect(failed.code).toBe(1);
      expect(s.log()).toContain(`incident ${report.start.incident}: the app failed to load`);
    } finally {
      for (const pid of daemonsOf(process.getuid!(), daemonPaths(homeOf(process.getuid!()), s.hostSettings).socket)) {
        process.kill(pid, 'SIGTERM');
        await eventually(() => !isAlive(pid), 'the daemon stopped', 10_000);
      }
      rmSync(s.root, { recursive: true, force: true });
    }
  });
});
