import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import {
  BUILTIN_DEFAULTS,
  emptyHostSettings,
  loadAppSettings,
  loadHostSettings,
  trustedOwnersFor,
  sidecarPath,
  type HostSettings,
} from '../../src/app/settings.js';

const MIB = 1024 * 1024;
let dir: string;
let app: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-settings-'));
  app = path.join(dir, 'site.wsgi');
  fs.writeFileSync(app, 'def application(environ, start_response): pass\n', { mode: 0o644 });
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function sidecar(text: string): void {
  fs.writeFileSync(sidecarPath(app), text, { mode: 0o644 });
  fs.chmodSync(sidecarPath(app), 0o644);
}

function hostFile(text: string): string {
  const file = path.join(dir, 'host.toml');
  fs.writeFileSync(file, text, { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  return file;
}

function settingsError(fn: () => unknown): WsgikitError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WsgikitError);
    return err as WsgikitError;
  }
  throw new Error('expected an error');
}

function appWith(text: string, host: HostSettings = emptyHostSettings()) {
  sidecar(text);
  return loadAppSettings(app, host);
}

describe('sidecarPath', () => {
  it('appends .toml to the .wsgi name', () => {
    expect(sidecarPath('/home/u/site.wsgi')).toBe('/home/u/site.wsgi.toml');
  });
});

describe('loadAppSettings defaults', () => {
  it('gives the built-in defaults when there is no sidecar and no host file', () => {
    const s = loadAppSettings(app, emptyHostSettings());
    expect(s).toEqual({ ...BUILTIN_DEFAULTS, warnings: [], source: null });
    expect(s.processes).toBe(5);
    expect(s.minProcesses).toBe(0);
    expect(s.queueSize).toBe(100);
    expect(s.queueTimeout).toBe(30);
    expect(s.requestTimeout).toBe(60);
    expect(s.startupTimeout).toBe(30);
    expect(s.idleTimeout).toBe(300);
    expect(s.maxRequests).toBe(0);
    expect(s.maxBodyBytes).toBe(100 * MIB);
    expect(s.logMaxBytes).toBe(10 * MIB);
    expect(s.logKeep).toBe(3);
    expect(s.tracebacks).toBe('owner');
    expect(s.reloadCheckInterval).toBe(1);
  });

  it('reads every key of a sidecar and reports it as the source', () => {
    const token = 'AB'.repeat(32);
    const s = appWith(`
python = "/usr/bin/python3"
processes = 8
min_processes = 2
queue_size = 50
queue_timeout = 5.5
request_timeout = 120
startup_timeout = 10
idle_timeout = 60
max_requests = 1000
memory_limit_mb = 512
cpu_limit = 300
max_body_mb = 2.5
log_dir = "/var/log/mine"
log_max_mb = 1
log_keep = 7
tracebacks = "never"
owner_addresses = ["203.0.113.7", "2001:db8::/32"]
owner_token_sha256 = "${token}"
mount = "/blog"
reload_check_interval = 0

[env]
DJANGO_SETTINGS_MODULE = "site.settings"
`);
    expect(s).toMatchObject({
      python: '/usr/bin/python3',
      processes: 8,
      minProcesses: 2,
      queueSize: 50,
      queueTimeout: 5.5,
      requestTimeout: 120,
      startupTimeout: 10,
      idleTimeout: 60,
      maxRequests: 1000,
      memoryLimitMb: 512,
      cpuLimit: 300,
      maxBodyBytes: 2.5 * MIB,
      logDir: '/var/log/mine',
      logMaxBytes: MIB,
      logKeep: 7,
      tracebacks: 'never',
      ownerAddresses: ['203.0.113.7', '2001:db8::/32'],
      ownerTokenSha256: token.toLowerCase(),
      mount: '/blog',
      env: { DJANGO_SETTINGS_MODULE: 'site.settings' },
      reloadCheckInterval: 0,
      warnings: [],
      source: sidecarPath(app),
    });
  });

  it('resolves a relative python against the .wsgi folder without resolving symlinks', () => {
    fs.mkdirSync(path.join(dir, 'real-venv', 'bin'), { recursive: true });
    fs.symlinkSync(path.join(dir, 'real-venv'), path.join(dir, 'venv-link'));
    const s = appWith('python = "./venv-link/bin/python"');
    expect(s.python).toBe(path.join(dir, 'venv-link', 'bin', 'python'));
  });

  it('looks a bare python name up in the safe path only', () => {
    const s = appWith('python = "python3"');
    expect(['/usr/local/bin/python3', '/usr/bin/python3', '/bin/python3']).toContain(s.python);
    const err = settingsError(() => appWith('python = "python9.99"'));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain('/usr/local/bin:/usr/bin:/bin');
  });

  it('expands log_dir starting with ~/ to the home folder of the running user', () => {
    const s = appWith('log_dir = "~/logs/site"');
    expect(s.logDir).toBe(path.join(os.userInfo().homedir, 'logs/site'));
  });

  it('accepts mount = "" for the site root', () => {
    expect(appWith('mount = ""').mount).toBe('');
  });
});

describe('loadAppSettings validation', () => {
  const numericCases: [string, string, string][] = [
    ['processes', '0', 'from 1 to 64'],
    ['processes', '65', 'from 1 to 64'],
    ['processes', '2.5', 'an integer'],
    ['min_processes', '-1', 'from 0 to 64'],
    ['queue_size', '10001', 'from 0 to 10000'],
    ['queue_timeout', '-1', 'seconds'],
    ['request_timeout', '0', 'from 1 to 86400'],
    ['startup_timeout', '0', 'from 1'],
    ['idle_timeout', '0', 'from 1'],
    ['max_requests', '-5', 'from 0'],
    ['memory_limit_mb', '-1', 'MiB'],
    ['cpu_limit', '1.5', 'an integer'],
    ['max_body_mb', '-1', 'MiB'],
    ['log_max_mb', '0', 'MiB'],
    ['log_keep', '1001', 'from 0 to 1000'],
    ['reload_check_interval', 'inf', 'seconds'],
  ];
  it.each(numericCases)('refuses %s = %s, naming file, key and range', (key, value, expected) => {
    const err = settingsError(() => appWith(`\n${key} = ${value}\n`));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain(`${sidecarPath(app)}:2`);
    expect(err.message).toContain(key);
    expect(err.message).toContain(expected);
    expect(err.message).toContain('Fix:');
  });

  const typeCases: [string, string, string][] = [
    ['processes', '"4"', 'the string "4"'],
    ['max_body_mb', 'true', 'the boolean true'],
    ['python', '3', 'the integer 3'],
    ['log_dir', '[]', 'an array'],
    ['tracebacks', '"always"', 'the string "always"'],
    ['owner_addresses', '"1.2.3.4"', 'the string "1.2.3.4"'],
    ['mount', '1', 'the integer 1'],
    ['env', '"FOO=1"', 'the string "FOO=1"'],
    ['request_timeout', '1979-05-27', 'a date'],
  ];
  it.each(typeCases)('refuses %s = %s with expected type and what it got', (key, value, got) => {
    const err = settingsError(() => appWith(`${key} = ${value}`));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain(key);
    expect(err.message).toContain('expected');
    expect(err.message).toContain(`got ${got}`);
  });

  it('refuses a relative log_dir (logs never sit in the web space)', () => {
    const err = settingsError(() => appWith('log_dir = "logs"'));
    expect(err.message).toContain('log_dir must be absolute or start with ~/');
  });

  it('refuses an owner address that is not an IP or CIDR', () => {
    for (const bad of ['example.com', '10.0.0.0/33', '1.2.3', '2001:db8::/129', '10.0.0.1/x']) {
      const err = settingsError(() => appWith(`owner_addresses = ["${bad}"]`));
      expect(err.message).toContain(`"${bad}" is not an IP address or CIDR range`);
    }
  });

  it('refuses an owner token that is not a SHA-256 hex digest', () => {
    const err = settingsError(() => appWith('owner_token_sha256 = "my-secret-token"'));
    expect(err.message).toContain('64 hex characters');
    expect(err.message).toContain('sha256sum');
  });

  it('refuses a mount without a leading slash or with a trailing one, suggesting the fix', () => {
    expect(settingsError(() => appWith('mount = "blog"')).message).toContain('Fix: mount = "/blog"');
    expect(settingsError(() => appWith('mount = "/blog/"')).message).toContain('Fix: mount = "/blog"');
    expect(settingsError(() => appWith('mount = "/"')).message).toContain('Fix: mount = ""');
  });

  it('refuses env entries that are not strings or have bad names', () => {
    expect(settingsError(() => appWith('[env]\nPORT = 8000')).message).toContain('env.PORT must be a string');
    expect(settingsError(() => appWith('env = { "BAD-NAME" = "x" }')).message).toContain('env.BAD-NAME');
  });

  it('refuses min_processes above processes', () => {
    const err = settingsError(() => appWith('processes = 2\nmin_processes = 3'));
    expect(err.message).toContain('min_processes = 3 is above processes = 2');
    expect(err.message).toContain(':2:');
  });

  it('names an unknown key and the file, with its line and a suggestion', () => {
    const err = settingsError(() => appWith('processes = 2\nmax-requests = 10\n'));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain(`${sidecarPath(app)}:2`);
    expect(err.message).toContain('unknown setting "max-requests"');
    expect(err.message).toContain('Did you mean max_requests?');
  });

  it('names the line of a TOML syntax error', () => {
    const err = settingsError(() => appWith('processes = 2\n\nqueue_size = = 3\n'));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain(`${sidecarPath(app)}:3:`);
    expect(err.message).toContain('not valid TOML');
    expect(err.message).toContain('correct line 3');
  });

  it('refuses a sidecar writable by group or others', () => {
    sidecar('processes = 3');
    fs.chmodSync(sidecarPath(app), 0o666);
    const err = settingsError(() => loadAppSettings(app, emptyHostSettings()));
    expect(err.code).toBe('WSGIKIT_APP_REFUSED');
    expect(err.message).toContain(`chmod go-w ${sidecarPath(app)}`);
  });
});

describe('command-line overrides', () => {
  it('win over the sidecar and are checked the same way', () => {
    sidecar('processes = 3');
    const s = loadAppSettings(app, emptyHostSettings(), { processes: 5, maxBodyBytes: 3 * MIB });
    expect(s.processes).toBe(5);
    expect(s.maxBodyBytes).toBe(3 * MIB);
    const err = settingsError(() => loadAppSettings(app, emptyHostSettings(), { processes: 0 }));
    expect(err.message).toContain('the command line');
    expect(err.message).toContain('processes');
  });

  it('resolve a relative --python against the current folder', () => {
    const s = loadAppSettings(app, emptyHostSettings(), { python: './bin/python' });
    expect(s.python).toBe(path.resolve('./bin/python'));
  });

  it('are capped by host limits with a warning', () => {
    const host = loadHostSettings(hostFile('[limits]\nprocesses = 4\n'));
    const s = loadAppSettings(app, host, { processes: 10 });
    expect(s.processes).toBe(4);
    expect(s.warnings).toEqual([expect.stringContaining('the command line: processes = 10 is above the host')]);
  });
});

describe('host settings', () => {
  it('reads [trusted_owners] as runner uid → owner uids; off by default', () => {
    expect(trustedOwnersFor(emptyHostSettings(), 33).size).toBe(0);
    const host = loadHostSettings(hostFile('[trusted_owners]\nwww-data = ["root", "daemon"]\n'));
    expect(host.trustedOwners).toEqual(new Map([[33, [0, 1]]]));
    expect([...trustedOwnersFor(host, 33)]).toEqual([0, 1]);
    expect(trustedOwnersFor(host, 1).size).toBe(0);
  });

  it('refuses a [trusted_owners] runner or owner that is not a user, or not a list', () => {
    expect(() => loadHostSettings(hostFile('[trusted_owners]\nno-such-user-x = ["root"]\n'))).toThrow(
      /no user no-such-user-x/,
    );
    expect(() => loadHostSettings(hostFile('[trusted_owners]\nwww-data = ["no-such-user-x"]\n'))).toThrow(
      /array of user names/,
    );
    expect(() => loadHostSettings(hostFile('[trusted_owners]\nwww-data = "root"\n'))).toThrow(/array of user names/);
  });

  it('treats a missing host file as no caps', () => {
    const host = loadHostSettings(path.join(dir, 'absent.toml'));
    expect(host).toEqual(emptyHostSettings());
  });

  it('reads defaults, limits, forced values and host-only keys', () => {
    const host = loadHostSettings(
      hostFile(`
allowed_roots = ["/home", "/srv/www/"]
default_python = "/usr/bin/python3.12"
log_root = "/var/log/wsgikit"

[defaults]
processes = 3
max_body_mb = 20

[limits]
processes = 8
max_body_mb = 50
max_requests = 0

[forced]
tracebacks = "never"
`),
    );
    expect(host.allowedRoots).toEqual(['/home', '/srv/www']);
    expect(host.defaultPython).toBe('/usr/bin/python3.12');
    expect(host.logRoot).toBe('/var/log/wsgikit');
    expect(host.defaults).toEqual({ processes: 3, maxBodyBytes: 20 * MIB });
    expect(host.limits).toEqual({ processes: 8, maxBodyBytes: 50 * MIB }); // max_requests = 0: no cap
    expect(host.forced).toEqual({ tracebacks: 'never' });
    expect(host.source).toBe(path.join(dir, 'host.toml'));
  });

  it('replaces built-in defaults with host defaults', () => {
    const host = loadHostSettings(
      hostFile('[defaults]\nprocesses = 3\nrequest_timeout = 20\n[defaults.env]\nLANG = "C.UTF-8"\n'),
    );
    const s = loadAppSettings(app, host);
    expect(s.processes).toBe(3);
    expect(s.requestTimeout).toBe(20);
    expect(s.env).toEqual({ LANG: 'C.UTF-8' });
    expect(s.warnings).toEqual([]);
  });

  it('lowers a sidecar value above a host cap to the cap and warns', () => {
    const host = loadHostSettings(hostFile('[limits]\nprocesses = 4\nmax_body_mb = 10\nrequest_timeout = 30\n'));
    const s = appWith('processes = 16\nmax_body_mb = 200\nrequest_timeout = 30\n', host);
    expect(s.processes).toBe(4);
    expect(s.maxBodyBytes).toBe(10 * MIB);
    expect(s.requestTimeout).toBe(30);
    expect(s.warnings).toHaveLength(2);
    expect(s.warnings[0]).toContain('site.wsgi.toml: processes = 16 is above the host');
    expect(s.warnings[0]).toContain('using 4');
    expect(s.warnings[1]).toContain('max_body_mb = 200 MiB');
    expect(s.warnings[1]).toContain('using 10 MiB');
  });

  it('treats 0 ("no limit") as above any cap', () => {
    const host = loadHostSettings(hostFile('[limits]\nmax_body_mb = 50\nmax_requests = 500\n'));
    const s = appWith('max_body_mb = 0\n', host);
    expect(s.maxBodyBytes).toBe(50 * MIB);
    expect(s.warnings).toEqual([expect.stringContaining('max_body_mb = 0 (no limit) is above the host')]);
    // The built-in default max_requests = 0 is capped too, quietly: the app never asked for it.
    expect(s.maxRequests).toBe(500);
  });

  it('caps processes and lowers min_processes along with it', () => {
    const host = loadHostSettings(hostFile('[limits]\nprocesses = 2\n'));
    const s = appWith('processes = 6\nmin_processes = 4\n', host);
    expect(s.processes).toBe(2);
    expect(s.minProcesses).toBe(2);
    expect(s.warnings).toHaveLength(2);
  });

  it('forces host values over the app and warns when the app asked otherwise', () => {
    const host = loadHostSettings(hostFile('[forced]\ntracebacks = "never"\nlog_keep = 5\n[forced.env]\nTZ = "UTC"\n'));
    const s = appWith('tracebacks = "owner"\n[env]\nTZ = "Europe/Paris"\nAPP = "1"\n', host);
    expect(s.tracebacks).toBe('never');
    expect(s.logKeep).toBe(5);
    expect(s.env).toEqual({ TZ: 'UTC', APP: '1' });
    expect(s.warnings).toEqual([
      expect.stringContaining('tracebacks = "owner" is ignored: the host sets tracebacks = "never"'),
      expect.stringContaining('env.TZ is set by the host'),
    ]);
    // Without a sidecar asking otherwise, no warning.
    fs.rmSync(sidecarPath(app));
    expect(loadAppSettings(app, host).warnings).toEqual([]);
  });

  it('refuses a log_dir outside log_root', () => {
    const host = loadHostSettings(hostFile('log_root = "/var/log/wsgikit"\n'));
    expect(appWith('log_dir = "/var/log/wsgikit/me"', host).logDir).toBe('/var/log/wsgikit/me');
    const err = settingsError(() => appWith('log_dir = "/tmp/logs"', host));
    expect(err.message).toContain('outside the host');
  });

  it('names an unknown key and the host file', () => {
    const file = hostFile('[limits]\nprocesses = 4\nworkers = 3\n');
    const err = settingsError(() => loadHostSettings(file));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain(`${file}:3`);
    expect(err.message).toContain('[limits] workers');
    const top = settingsError(() => loadHostSettings(hostFile('allowed_root = ["/home"]\n')));
    expect(top.message).toContain('unknown setting "allowed_root"');
    expect(top.message).toContain('Did you mean allowed_roots?');
  });

  it('refuses non-numeric keys in [limits] and python in [defaults]', () => {
    expect(settingsError(() => loadHostSettings(hostFile('[limits]\ntracebacks = "never"\n'))).message).toContain(
      'numeric settings only',
    );
    expect(
      settingsError(() => loadHostSettings(hostFile('[defaults]\npython = "/usr/bin/python3"\n'))).message,
    ).toContain('default_python');
  });

  it('refuses relative paths for host-only keys', () => {
    expect(settingsError(() => loadHostSettings(hostFile('allowed_roots = ["home"]\n'))).message).toContain(
      'absolute folder paths',
    );
    expect(settingsError(() => loadHostSettings(hostFile('default_python = "python3"\n'))).message).toContain(
      'an absolute path',
    );
  });

  it('refuses host defaults above its own limits', () => {
    const err = settingsError(() =>
      loadHostSettings(hostFile('[defaults]\nprocesses = 10\n[limits]\nprocesses = 4\n')),
    );
    expect(err.message).toContain('[defaults] processes = 10 is above [limits] processes = 4');
  });

  it('names the line of a TOML syntax error in the host file', () => {
    const file = hostFile('[limits]\nprocesses = 4\n[limits\n');
    const err = settingsError(() => loadHostSettings(file));
    expect(err.message).toContain(`${file}:3:`);
  });

  it('refuses a host file writable by others', () => {
    const file = hostFile('[limits]\nprocesses = 4\n');
    fs.chmodSync(file, 0o646);
    const err = settingsError(() => loadHostSettings(file));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain(`chmod go-w ${file}`);
  });
});

describe('loadHostSettings: sendfile and [sendfile_map]', () => {
  it('defaults to wsgikit sending files itself, with no map', () => {
    const host = loadHostSettings(hostFile('[limits]\nprocesses = 4\n'));
    expect([host.sendfile, host.sendfileMap]).toEqual(['none', []]);
  });

  it('reads the mode and the map, longest filesystem prefix first', () => {
    const host = loadHostSettings(
      hostFile(
        'sendfile = "x-accel-redirect"\n[sendfile_map]\n"/home/" = "/_files/"\n"/home/alice/media/" = "/_media/"\n',
      ),
    );
    expect(host.sendfile).toBe('x-accel-redirect');
    expect(host.sendfileMap).toEqual([
      { from: '/home/alice/media/', to: '/_media/' },
      { from: '/home/', to: '/_files/' },
    ]);
  });

  it('refuses an unknown mode, naming the ones there are', () => {
    const file = hostFile('sendfile = "xsendfile"\n');
    const err = settingsError(() => loadHostSettings(file));
    expect(err.code).toBe('WSGIKIT_SETTINGS_INVALID');
    expect(err.message).toContain(`${file}:1: sendfile: expected "none" or "x-sendfile" or "x-accel-redirect"`);
  });

  it('refuses x-accel-redirect without a map, with the fix', () => {
    const err = settingsError(() => loadHostSettings(hostFile('sendfile = "x-accel-redirect"\n')));
    expect(err.message).toContain('needs [sendfile_map]');
    expect(err.message).toContain('Fix: add [sendfile_map] with "/home/" = "/_wsgikit_files/"');
  });

  it('refuses map entries that would match too much or cannot be a location', () => {
    const noSlash = settingsError(() => loadHostSettings(hostFile('[sendfile_map]\n"/home" = "/_files/"\n')));
    expect(noSlash.message).toContain(
      '[sendfile_map] /home: a filesystem prefix must be an absolute folder ending with "/"',
    );
    expect(noSlash.message).toContain('Fix: "/home/" = "/_wsgikit_files/"');
    const dotdot = settingsError(() => loadHostSettings(hostFile('[sendfile_map]\n"/home/../etc/" = "/_files/"\n')));
    expect(dotdot.message).toContain('without ".."');
    const query = settingsError(() => loadHostSettings(hostFile('[sendfile_map]\n"/home/" = "/_files?x/"\n')));
    expect(query.message).toContain('must be a URI path that starts and ends with "/"');
    const notString = settingsError(() => loadHostSettings(hostFile('[sendfile_map]\n"/home/" = 3\n')));
    expect(notString.message).toContain('got 3');
  });
});
