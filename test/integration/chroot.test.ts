// The host's `chroot` setting, for real: as root, builds a chroot with scripts/build-chroot.sh
// (this machine's /usr/bin/python3, its libraries and stdlib, the bridge), bind-mounts a throwaway
// user's home into it, and starts wsgi-fcgi in hosting mode as root with --user. The app, owned by
// that user, reports what it sees: it runs as the user, in its own folder, where a file outside
// the chroot does not exist and the chroot's own bridge does, and it cannot create a user
// namespace (the kernel's guard against leaving a chroot). A chroot folder that group members
// could write is refused with the fix, and the app's log and error pages work as without one.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectResponse, fastcgiRequest } from '../../src/fastcgi/client.js';
import { BUILD_CHROOT, chrootUnavailable } from '../helpers/chroot.js';
import { eventually } from '../helpers/wsgi-run.js';

const WSGI_FCGI = fileURLToPath(new URL('../../dist/cli/wsgi-fcgi.js', import.meta.url));
const reason = chrootUnavailable();
if (reason !== null) console.warn(`chroot.test.ts skipped: ${reason}`);

const APP = `
import ctypes, json, os, sys

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/boom':
        print('about to fail')
        sys.stdout.flush()
        1 / 0
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWUSER = 0x10000000
    unshare = libc.unshare(CLONE_NEWUSER)
    report = {
        'uid': os.getuid(),
        'cwd': os.getcwd(),
        'marker': os.path.exists(MARKER),
        'bridge': os.path.exists('/usr/lib/wsgikit/wsgi_bridge.py'),
        'root_entries': sorted(os.listdir('/')),
        'unshare': [unshare, ctypes.get_errno()],
    }
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(report).encode()]
`;

describe.skipIf(reason !== null)('wsgi-fcgi with the host setting chroot = ".../%u"', () => {
  const user = `wsgich${process.pid % 100000}`;
  let base: string;
  let chrootDir: string;
  let home: string;
  let uid: number;
  let app: string;
  let marker: string;
  let socket: string;
  let daemon: ChildProcess;
  let output = '';
  let created = false;

  beforeAll(async () => {
    execFileSync('useradd', ['-m', '-s', '/usr/sbin/nologin', user]);
    created = true;
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
    home = `/home/${user}`;
    base = mkdtempSync('/tmp/wsgikit-chroot-');
    chmodSync(base, 0o755); // the user must reach the chroot and the socket's folder
    chrootDir = join(base, 'chroots', user);
    // One chroot for the file: about 75 MB copied, a few seconds.
    execFileSync('sh', [BUILD_CHROOT, '--user', user, '--mount-home', chrootDir], { stdio: 'pipe' });

    marker = join(base, 'only-outside');
    writeFileSync(marker, '');
    const site = join(home, 'public_html');
    mkdirSync(site, { mode: 0o755 });
    app = join(site, 'app.wsgi');
    writeFileSync(app, `MARKER = ${JSON.stringify(marker)}\n${APP}`, { mode: 0o644 });
    // Resolved on every request, so the refusal test sees a changed chroot folder at once.
    writeFileSync(`${app}.toml`, 'reload_check_interval = 0\n', { mode: 0o644 });
    execFileSync('chown', ['-R', `${user}:${user}`, site]);

    const hostFile = join(base, 'host.toml');
    writeFileSync(hostFile, `allowed_roots = ["/home"]\nchroot = "${join(base, 'chroots')}/%u"\n`, { mode: 0o644 });
    socket = join(base, 'fcgi.sock');
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    daemon = spawn(
      process.execPath,
      [WSGI_FCGI, '--listen', socket, '--user', user, '--host-settings', hostFile, '--root', site],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    daemon.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
    daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    await eventually(() => output.includes('wsgi-fcgi ready') || daemon.exitCode !== null, 'wsgi-fcgi ready');
    if (daemon.exitCode !== null) throw new Error(`wsgi-fcgi exited:\n${output}`);
  }, 120_000);

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    if (chrootDir && home) spawnSync('umount', [join(chrootDir, home)]);
    // Never delete through a home that is still mounted in the chroot.
    const mounted = chrootDir && spawnSync('mountpoint', ['-q', join(chrootDir, home)]).status === 0;
    if (base && !mounted) rmSync(base, { recursive: true, force: true, maxRetries: 3 });
    if (created) execFileSync('userdel', ['-r', user], { stdio: 'ignore' });
  });

  async function get(path: string): Promise<{ status: number; body: string }> {
    const params = {
      GATEWAY_INTERFACE: 'CGI/1.1',
      REQUEST_METHOD: 'GET',
      SCRIPT_FILENAME: app,
      SCRIPT_NAME: '/app.wsgi',
      PATH_INFO: path,
      QUERY_STRING: '',
      REQUEST_URI: `/app.wsgi${path}`,
      SERVER_NAME: 'localhost',
      SERVER_PORT: '80',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: '127.0.0.1',
      DOCUMENT_ROOT: join(home, 'public_html'),
    };
    const text = (await collectResponse(fastcgiRequest(socket, { params }))).stdout.toString('latin1');
    const split = text.indexOf('\r\n\r\n');
    const status = /^Status: (\d{3})/m.exec(text.slice(0, split));
    return { status: status ? Number(status[1]) : 200, body: text.slice(split + 4) };
  }

  function appLog(): string {
    const dir = join(home, '.wsgikit', 'logs');
    const name = existsSync(dir) ? readdirSync(dir).find((f) => f.endsWith('.log')) : undefined;
    return name ? readFileSync(join(dir, name), 'utf8') : '';
  }

  it('runs the app chrooted, as the user, in its own folder, unable to make a user namespace', async () => {
    const res = await get('/who');
    expect(res.status, res.body).toBe(200);
    const report = JSON.parse(res.body) as Record<string, unknown>;
    expect(report.uid).toBe(uid);
    expect(report.cwd).toBe(join(home, 'public_html'));
    expect(existsSync(marker)).toBe(true);
    expect(report.marker).toBe(false); // the file exists, outside only
    expect(report.bridge).toBe(true); // the chroot's own copy; there is none outside
    expect(existsSync('/usr/lib/wsgikit/wsgi_bridge.py')).toBe(false);
    expect(report.root_entries).toEqual(readdirSync(chrootDir).sort());
    expect(report.unshare).toEqual([-1, 1]); // EPERM: a chrooted process gets no new namespace
  });

  it('keeps the log outside the chroot, in the home, and the error page names its incident', async () => {
    const res = await get('/boom');
    expect(res.status).toBe(500);
    const incident = /([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2})/.exec(res.body)?.[1];
    expect(incident, res.body).toBeDefined();
    await eventually(() => appLog().includes(incident!), 'the incident in the log');
    expect(appLog()).toContain('about to fail');
    expect(appLog()).toContain('ZeroDivisionError');
  });

  it('refuses a chroot folder its group may write, with the fix, and serves again once it is fixed', async () => {
    chmodSync(chrootDir, 0o775);
    try {
      const res = await get('/refused');
      expect(res.status).toBe(500);
      await eventually(() => output.includes('is writable by group or others'), 'the refusal in the ops log');
      expect(output).toContain(`Fix: chmod go-w ${chrootDir}`);
      expect(res.body).not.toContain(chrootDir); // visitors get no paths
    } finally {
      chmodSync(chrootDir, 0o755);
    }
    expect((await get('/again')).status).toBe(200);
  });
});
