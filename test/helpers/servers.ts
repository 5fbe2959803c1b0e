// Real web servers (nginx, Apache, lighttpd) and the built wsgi-fcgi, for the end-to-end tests.
// Each server runs in the foreground from a config generated into a temp dir: a free high port on
// 127.0.0.1, its pid file, logs and temp paths under that dir. It is stopped by the pid this
// helper started, never by name, and its error log is dumped when a test fails (server-checks.ts).
//
// The site part of each config is read out of the guide in docs/ (the fenced block after an
// `<!-- e2e: NAME -->` marker), with the guide's example paths replaced by the temp dir's: the
// configuration a guide shows is the one its test runs. Only the harness lines around it
// (foreground, pid, logs, port) come from here.
//
// Nothing here needs the test runner, so the benchmark and the soak script use it as it is; the
// hooks and assertions that do are in server-checks.ts.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appFolder, type AppFolder } from './wsgi-run.js';
import { SERVICE_NODE_FLAGS } from '../../src/install-paths.js';

export const WSGI_FCGI = fileURLToPath(new URL('../../dist/cli/wsgi-fcgi.js', import.meta.url));
export const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
export const FIXTURES = join(REPO, 'test', 'fixtures', 'e2e');
/** Node as the servers start it: by absolute path (mod_fcgid hands its children only PATH). */
export const NODE = process.execPath;

// ---------------------------------------------------------------------------------------------
// What is installed.

/** An executable found on PATH or in the sbin folders (root's PATH may lack /usr/sbin). */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const file = join(dir, name);
    if (dir && existsSync(file)) return file;
  }
  return null;
}

export const APACHE_MODULES = '/usr/lib/apache2/modules';

export function hasApacheModules(...names: string[]): boolean {
  return findBinary('apache2') !== null && names.every((n) => existsSync(join(APACHE_MODULES, `mod_${n}.so`)));
}

/** Debian's /usr/bin/python3 can import Flask (python3-flask): what the Flask cases need. */
export function hasSystemFlask(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import flask'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** uid and gid of a user from /etc/passwd, or null. */
export function userIds(user: string): { uid: number; gid: number } | null {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

export function groupId(group: string): number | null {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === group && f.length >= 3) return Number(f[2]);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Folders and apps.

/** A fresh temp dir for one server and its apps, traversable by the server's unprivileged users. */
export function e2eDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `wsgikit-e2e-${name}-`));
  chmodSync(dir, 0o755);
  made.push(dir);
  return dir;
}

/** The temp dirs this file made (e2eDir, ownedAppFolder), for removeTempDirs. */
const made: string[] = [];

/** In afterAll, once the servers are stopped. WSGIKIT_KEEP_E2E=1 keeps them to look at. */
export function removeTempDirs(): void {
  if (process.env.WSGIKIT_KEEP_E2E) return;
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function mkdirs(...dirs: string[]): void {
  for (const dir of dirs) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
  }
}

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/**
 * An app folder (test/helpers/wsgi-run.ts `appFolder`: `app.wsgi`, its sidecar and its own log
 * folder) whose log folder the user `user` may write: the user wsgi-fcgi serves as.
 */
export function ownedAppFolder(
  source: string,
  settings: Record<string, string | number | boolean>,
  user: string,
): AppFolder {
  const folder = appFolder(source, settings);
  made.push(folder.dir);
  const ids = userIds(user);
  if (ids === null) throw new Error(`no user ${user}`);
  chownSync(folder.logDir, ids.uid, ids.gid);
  return folder;
}

/**
 * A `.wsgi` in a document root, as a hosting user puts one there: `DOCROOT/NAME.wsgi` and its
 * sidecar `NAME.wsgi.toml`. Its log goes to the log folder of an `ownedAppFolder` (outside the
 * document root, where wsgikit insists it be); that folder's `log()` reads it.
 */
export function docrootApp(
  docroot: string,
  name: string,
  source: string,
  settings: Record<string, string | number>,
  user: string,
): AppFolder {
  const folder = ownedAppFolder(source, settings, user);
  const app = join(docroot, name);
  writeFileSync(app, source, { mode: 0o644 });
  const lines = [`log_dir = ${JSON.stringify(folder.logDir)}`];
  for (const [key, value] of Object.entries(settings)) lines.push(`${key} = ${JSON.stringify(value)}`);
  writeFileSync(`${app}.toml`, lines.join('\n') + '\n', { mode: 0o644 });
  return { ...folder, app };
}

// ---------------------------------------------------------------------------------------------
// Guides: the config blocks the tests run.

/**
 * The fenced code block that follows `<!-- e2e: NAME -->` in `docs/GUIDE`, with each `[from, to]`
 * replaced everywhere. A `from` the block does not contain is an error, so a guide that drifts
 * from its test fails the test rather than silently testing something else.
 */
export function configFromGuide(guide: string, name: string, replacements: Array<[string, string]>): string {
  const text = readFileSync(join(REPO, 'docs', guide), 'utf8');
  const marker = `<!-- e2e: ${name} -->`;
  const at = text.indexOf(marker);
  if (at === -1) throw new Error(`docs/${guide} has no ${marker}`);
  // A block may be indented (inside a list item): the indent of its fence is taken off each line.
  const m = /^([ \t]*)```[^\n]*\n([\s\S]*?)\n\1```/m.exec(text.slice(at + marker.length));
  if (!m) throw new Error(`docs/${guide}: no fenced block after ${marker}`);
  const indent = m[1]!;
  let block = m[2]!
    .split('\n')
    .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
    .join('\n');
  for (const [from, to] of replacements) {
    if (!block.includes(from)) throw new Error(`docs/${guide} ${name}: the block no longer contains ${from}`);
    block = block.split(from).join(to);
  }
  return block + '\n';
}

// ---------------------------------------------------------------------------------------------
// Processes.

export interface Proc {
  pid: number;
  /** stdout and stderr so far. */
  output(): string;
  readonly exited: Promise<void>;
  /** Signal the pid we started, wait for it to exit (SIGKILL after `ms`). */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<void>;
}

export function startProc(command: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (error) => (out += `\nspawn failed: ${error.message}`));
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid ?? -1,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', ms = 10_000) {
      if (!running()) return;
      child.kill(signal);
      const timer = setTimeout(() => running() && child.kill('SIGKILL'), ms);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The environment for the servers and wsgi-fcgi: ours, less Node's eager CA loading. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(check: () => Promise<boolean>, what: string, proc: Proc, log: () => string, ms = 15_000) {
  const until = Date.now() + ms;
  let exitedEarly = false;
  void proc.exited.then(() => (exitedEarly = true));
  for (;;) {
    if (await check()) return;
    if (exitedEarly || Date.now() > until) {
      await proc.stop();
      throw new Error(`${what} ${exitedEarly ? 'exited' : 'did not start'}:\n${proc.output()}\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function answersHttp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', method: 'HEAD', timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export function answersSocket(where: string): Promise<boolean> {
  return new Promise((resolve) => {
    const tcp = /^(.+):(\d+)$/.exec(where);
    const socket = tcp ? connect(Number(tcp[2]), tcp[1]) : connect(where);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function readIf(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

// ---------------------------------------------------------------------------------------------
// wsgi-fcgi.

export interface WsgiFcgi extends Proc {
  /** --listen value: a socket path or 127.0.0.1:PORT. */
  listen: string;
}

/** The built wsgi-fcgi listening on `listen` (a socket path or 127.0.0.1:PORT), once it accepts. */
export async function startWsgiFcgi(
  listen: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<WsgiFcgi> {
  const proc = startProc(NODE, [...SERVICE_NODE_FLAGS, WSGI_FCGI, '--listen', listen, ...args], cleanEnv(env));
  await waitFor(
    async () => proc.output().includes('wsgi-fcgi ready') && (await answersSocket(listen)),
    `wsgi-fcgi --listen ${listen}`,
    proc,
    () => '',
  );
  return { ...proc, listen };
}

// ---------------------------------------------------------------------------------------------
// The web servers.

export interface WebServer {
  name: string;
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  pid: number;
  dir: string;
  /** The generated config file. */
  config: string;
  /** The server's error log (and what it printed) so far. */
  errorLog(): string;
  stop(): Promise<void>;
}

function webServer(
  name: string,
  dir: string,
  config: string,
  port: number,
  proc: Proc,
  errorLog: string,
  signal: NodeJS.Signals,
): WebServer {
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    dir,
    config,
    errorLog: () => `${readIf(errorLog)}${proc.output()}`,
    stop: () => proc.stop(signal),
  };
}

/**
 * nginx in the foreground (`daemon off`) with its master process as root and one worker as
 * www-data, from `site`: the http-level lines of the guide (upstreams and the server block).
 */
export async function startNginx(dir: string, port: number, site: string): Promise<WebServer> {
  const tmp = join(dir, 'nginx-tmp');
  mkdirs(tmp);
  // `include fastcgi_params;` is relative to the config's folder: Debian's file, as in /etc/nginx.
  copyFileSync('/etc/nginx/fastcgi_params', join(dir, 'fastcgi_params'));
  const errorLog = join(dir, 'nginx-error.log');
  const config = join(dir, 'nginx.conf');
  writeFileSync(
    config,
    `# Test harness: foreground, one worker, pid, logs and temp paths under ${dir}.
daemon off;
master_process on;
worker_processes 1;
user www-data;
pid ${dir}/nginx.pid;
error_log ${errorLog} info;
events { worker_connections 256; }
http {
    access_log ${dir}/nginx-access.log;
    client_body_temp_path ${tmp}/body;
    fastcgi_temp_path ${tmp}/fastcgi;
    proxy_temp_path ${tmp}/proxy;
    uwsgi_temp_path ${tmp}/uwsgi;
    scgi_temp_path ${tmp}/scgi;

${site}
}
`,
  );
  const nginx = findBinary('nginx')!;
  const proc = startProc(nginx, ['-c', config, '-p', dir, '-e', errorLog], cleanEnv());
  await waitFor(
    () => answersHttp(port),
    'nginx',
    proc,
    () => readIf(errorLog),
  );
  return webServer('nginx', dir, config, port, proc, errorLog, 'SIGTERM');
}

/** Where Debian's Apache execs suEXEC (compiled in): an alternative, pristine or custom. */
export const APACHE_SUEXEC = '/usr/lib/apache2/suexec';
export const SUEXEC_PRISTINE = '/usr/lib/apache2/suexec-pristine';
export const SUEXEC_CUSTOM = '/usr/lib/apache2/suexec-custom';

export interface ApacheOptions {
  /** The user Apache's children run as; default www-data. */
  user?: string;
  /**
   * The suEXEC this Apache runs, whatever the machine's alternative says: Apache runs in a mount
   * namespace of its own where `binary` is bind-mounted over /usr/lib/apache2/suexec (its path is
   * compiled in), and `config` over /etc/apache2/suexec/USER (what apache2-suexec-custom reads).
   * Nothing changes outside that namespace.
   */
  suexec?: { binary: string; config?: string };
}

/** This machine can give a process a private mount namespace (unshare -m: root with CAP_SYS_ADMIN). */
export function canPinSuexec(): boolean {
  try {
    execFileSync('unshare', ['-m', '--propagation', 'private', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Apache (Debian's apache2, mpm_event) in the foreground as root with its children as `user`
 * (www-data unless told), from `site`: the guide's lines. `modules`: the extra modules it loads.
 */
export async function startApache(
  dir: string,
  port: number,
  modules: string[],
  site: string,
  options: ApacheOptions = {},
): Promise<WebServer> {
  const user = options.user ?? 'www-data';
  const errorLog = join(dir, 'apache-error.log');
  const config = join(dir, 'httpd.conf');
  const load = ['mpm_event', 'authz_core', 'mime', ...modules]
    .map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`)
    .join('\n');
  writeFileSync(
    config,
    // flock, not file: (fcntl): fcntl's deadlock detection sees the threads of a process as one
    // owner, and under mpm_event mod_fcgid's two mutexes then fail with EDEADLK ("can't get pipe
    // mutex") and stall its classes.
    `# Test harness: foreground, pid, mutexes and logs under ${dir}, 127.0.0.1 only.
ServerRoot /etc/apache2
DefaultRuntimeDir ${dir}
PidFile ${dir}/apache.pid
Mutex flock:${dir} default
ErrorLog ${errorLog}
LogLevel warn
Listen 127.0.0.1:${port}
ServerName 127.0.0.1
User ${user}
Group ${user}
${load}
TypesConfig /etc/mime.types
StartServers 1
MinSpareThreads 16
MaxSpareThreads 32
ServerLimit 2
ThreadsPerChild 16
MaxRequestWorkers 32

${site}
`,
  );
  const apache = findBinary('apache2')!;
  // -X would serialise everything in one process; -DFOREGROUND keeps the real process model.
  const args = ['-f', config, '-DFOREGROUND'];
  const env = cleanEnv({ APACHE_RUN_DIR: dir });
  let proc: Proc;
  if (options.suexec === undefined) {
    proc = startProc(apache, args, env);
  } else {
    // unshare and sh exec into Apache: the pid is Apache's. A bind mount onto the alternative's
    // symlink lands on the file it names, which is what Apache execs.
    const mounts = [`mount --bind "$1" ${APACHE_SUEXEC}`];
    if (options.suexec.config !== undefined) mounts.push(`mount --bind "$2" /etc/apache2/suexec/${user}`);
    const script = `${mounts.join(' && ')} && shift 2 && exec "$@"`;
    proc = startProc(
      'unshare',
      [
        '-m',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        'sh',
        options.suexec.binary,
        options.suexec.config ?? '',
        apache,
        ...args,
      ],
      env,
    );
  }
  await waitFor(
    () => answersHttp(port),
    'apache2',
    proc,
    () => readIf(errorLog),
  );
  return webServer('apache2', dir, config, port, proc, errorLog, 'SIGTERM');
}

/** lighttpd in the foreground (-D) as www-data on 127.0.0.1, from `site`: the guide's lines. */
export async function startLighttpd(dir: string, port: number, docroot: string, site: string): Promise<WebServer> {
  // lighttpd opens its error log after it has become www-data: its files live in a folder of its own.
  const own = join(dir, 'lighttpd');
  const errorLog = join(own, 'error.log');
  const config = join(dir, 'lighttpd.conf');
  const uploads = join(own, 'uploads');
  mkdirs(own, uploads);
  const www = userIds('www-data');
  if (www) for (const d of [own, uploads]) chownSync(d, www.uid, www.gid);
  writeFileSync(
    config,
    `# Test harness: foreground, pid, logs and uploads under ${own}, 127.0.0.1 only.
server.document-root = "${docroot}"
server.bind = "127.0.0.1"
server.port = ${port}
server.pid-file = "${own}/lighttpd.pid"
server.errorlog = "${errorLog}"
server.username = "www-data"
server.groupname = "www-data"
server.upload-dirs = ( "${uploads}" )

${site}
`,
  );
  const lighttpd = findBinary('lighttpd')!;
  const proc = startProc(lighttpd, ['-D', '-f', config], cleanEnv());
  await waitFor(
    () => answersHttp(port),
    'lighttpd',
    proc,
    () => readIf(errorLog),
  );
  return webServer('lighttpd', dir, config, port, proc, errorLog, 'SIGTERM');
}

// ---------------------------------------------------------------------------------------------
// Requests.

export interface CurlResult {
  status: number;
  headers: string;
  body: string;
}

/** curl (the client the guides use), with `-s -S`, the status and headers captured. */
export function curl(url: string, args: string[] = []): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-sS', '--noproxy', '*', '-D', '-', '-o', '-', '--max-time', '60', ...args, url],
      { encoding: 'latin1', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`curl ${url}: ${error.message}\n${stderr}`));
        // Skip interim responses (100 Continue); the last head is the answer.
        const heads = stdout.split(/\r\n\r\n/);
        let i = 0;
        while (/^HTTP\/\S+ 1\d\d/.test(heads[i] ?? '') && i < heads.length - 1) i++;
        const head = heads[i]!;
        const body = Buffer.from(heads.slice(i + 1).join('\r\n\r\n'), 'latin1').toString('utf8');
        resolve({ status: Number(/^HTTP\/\S+ (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body });
      },
    );
  });
}

export const INCIDENT = /[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}/;

/** The inodes of the connected (accepted) sockets bound to a Unix socket path, from /proc/net/unix. */
export function acceptedConnections(socketPath: string): Set<string> {
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path; St 03 = connected.
    if (f.length >= 8 && f[7] === socketPath && f[5] === '03') inodes.add(f[6]!);
  }
  return inodes;
}

/**
 * A command line shown in a guide (the fenced block after `<!-- e2e: NAME -->`): leading
 * `NAME=value` words are its environment, then the program, then its arguments; `\` line breaks
 * join. Replacements as for configFromGuide.
 */
export function commandFromGuide(
  guide: string,
  name: string,
  replacements: Array<[string, string]>,
): { env: Record<string, string>; program: string; args: string[] } {
  const words = configFromGuide(guide, name, replacements).replace(/\\\n/g, ' ').split(/\s+/).filter(Boolean);
  const env: Record<string, string> = {};
  while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) {
    const word = words.shift()!;
    const eq = word.indexOf('=');
    env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  const program = words.shift() ?? '';
  return { env, program, args: words };
}
