// A CGI site for tests: a document root holding app.wsgi and its settings, host settings that
// allow it, its logs outside the document root; and wsgi-cgi run the way a web server runs it
// (a CGI environment, the body on stdin, the response read from stdout).

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homeOf } from '../../src/app/locate.js';
import { daemonPaths } from '../../src/cgi/daemon.js';

export const WSGI_CGI = fileURLToPath(new URL('../../dist/wsgi-cgi.cjs', import.meta.url));
/** The `wsgi-cgi` command: the native launcher when the build compiled it, else a copy of WSGI_CGI. */
export const WSGI_CGI_COMMAND = fileURLToPath(new URL('../../dist/wsgi-cgi', import.meta.url));

/** Whether the build made dist/wsgi-cgi the native launcher (an ELF file). */
export function nativeLauncherBuilt(): boolean {
  try {
    return readFileSync(WSGI_CGI_COMMAND).subarray(0, 4).toString('latin1') === '\x7fELF';
  } catch {
    return false;
  }
}

/** The two entries every CGI test runs through: the Node entry, and the native launcher when built. */
export interface CgiEntry {
  name: 'node' | 'native';
  /** The program and the arguments before wsgi-cgi's own. */
  command: string[];
}
export const CGI_ENTRIES: CgiEntry[] = [
  { name: 'node', command: [process.execPath, WSGI_CGI] },
  ...(nativeLauncherBuilt() ? [{ name: 'native' as const, command: [WSGI_CGI_COMMAND] }] : []),
];
let entry: CgiEntry = CGI_ENTRIES[0]!;
/** The entry cgi() runs from now on (a describe.each over CGI_ENTRIES sets it in its beforeAll). */
export function useCgiEntry(next: CgiEntry): void {
  entry = next;
}

export interface Site {
  root: string;
  docroot: string;
  app: string;
  hostSettings: string;
  log(): string;
  /** The log file of the CGI daemon for these host settings (ours: this user's). */
  daemonLogFile: string;
  /** What that log holds, with what was rotated out of it. */
  daemonLog(): string;
}

/** `settings`: lines for app.wsgi.toml besides log_dir and idle_timeout. */
export function site(source: string, settings = '', idleTimeout = 5): Site {
  const root = mkdtempSync(join(tmpdir(), 'wsgikit-cgi-'));
  chmodSync(root, 0o755);
  const docroot = join(root, 'www');
  mkdirSync(docroot, { mode: 0o755 });
  const app = join(docroot, 'app.wsgi');
  writeFileSync(app, source, { mode: 0o644 });
  writeFileSync(app + '.toml', `log_dir = "${root}/logs"\nidle_timeout = ${idleTimeout}\n${settings}`, { mode: 0o644 });
  const hostSettings = join(root, 'host.toml');
  writeFileSync(hostSettings, `allowed_roots = ["${root}"]\n`, { mode: 0o644 });
  const daemonLogFile = daemonPaths(homeOf(process.getuid?.() ?? -1), hostSettings).log;
  return {
    root,
    docroot,
    app,
    hostSettings,
    daemonLogFile,
    log() {
      try {
        const dir = join(root, 'logs');
        return readdirSync(dir)
          .filter((f) => f.endsWith('.log'))
          .map((f) => readFileSync(join(dir, f), 'utf8'))
          .join('');
      } catch {
        return '';
      }
    },
    daemonLog() {
      return [`${daemonLogFile}.1`, daemonLogFile].map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('');
    },
  };
}

export interface CgiResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  stderr: string;
}

export function cgi(s: Site, vars: Record<string, string>, body?: Buffer, args: string[] = []): Promise<CgiResult> {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'Apache/2.4',
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '192.0.2.10',
    REQUEST_METHOD: body ? 'POST' : 'GET',
    QUERY_STRING: '',
    DOCUMENT_ROOT: s.docroot,
    SCRIPT_NAME: '/app.wsgi',
    SCRIPT_FILENAME: s.app,
    ...(body ? { CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'application/octet-stream' } : {}),
    ...vars,
  };
  env.REQUEST_URI ??= env.SCRIPT_NAME + (env.PATH_INFO ?? '');
  const [program, ...before] = entry.command;
  const child = spawn(program!, [...before, '--host-settings', s.hostSettings, ...args], { env });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  // A request refused before its body is read (a 400 for a bad CONTENT_LENGTH) may have exited
  // by the time the body is written: its EPIPE is not the test's failure.
  child.stdin.on('error', () => {});
  child.stdin.end(body);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const all = Buffer.concat(out);
      const split = all.indexOf('\r\n\r\n');
      if (code !== 0 || split === -1) return reject(new Error(`wsgi-cgi exit ${code}: ${all}\n${stderr}`));
      const headers: Record<string, string> = {};
      for (const line of all.subarray(0, split).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = headers.status ? Number(headers.status.slice(0, 3)) : headers.location ? 302 : 200;
      resolve({ status, headers, body: all.subarray(split + 4), stderr });
    });
  });
}
