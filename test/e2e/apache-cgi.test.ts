// Real Apache (Debian's apache2, mpm_event + mod_cgid) on 127.0.0.1 in front of wsgi-cgi, in every
// CGI layout of docs/apache-cgi.md and docs/suexec.md: ScriptAlias, AddHandler cgi-script with a
// wsgi-cgi shebang, the Action handler with suexec/wsgi-cgi, mod_rewrite hiding the .wsgi, and
// userdir under suEXEC with a real unprivileged user (daemon mode, its socket and log in the
// user's home). The Apache lines are read out of the guides: they show what this runs.
//
// The userdir layout here is pristine suEXEC's (AP_USERDIR_SUFFIX public_html). With
// apache2-suexec-custom as the machine's suexec, Debian's userdir there is public_html/cgi-bin and
// suEXEC refuses ~user/public_html/app.wsgi ("command not in docroot"): this file's Apache runs the
// pristine binary in a mount namespace of its own (startApache's suexec option), whatever the
// machine's alternative; test/e2e/apache-suexec-custom.test.ts runs the custom one.
//
// One Apache for the whole file. Apps outside suEXEC run as www-data, whose home /var/www is the
// default allowed root, so they live in a temp folder under /var/www. wsgi-cgi is installed the
// way suexec/README.md says (/usr/local/bin/wsgi-cgi → dist/wsgi-cgi.cjs, the Node entry, then →
// dist/wsgi-cgi, the native launcher: every case runs through both) for the duration.

import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CGI_ENTRIES } from '../helpers/cgi-site.js';
import { eventually } from '../helpers/wsgi-run.js';
import {
  INCIDENT,
  REPO,
  configFromGuide,
  curl,
  e2eDir,
  findBinary,
  freePort,
  hasApacheModules,
  isRoot,
  mkdirs,
  canPinSuexec,
  SUEXEC_PRISTINE,
  removeTempDirs,
  startApache,
  userIds,
  type CurlResult,
  type WebServer,
} from '../helpers/servers.js';
import { dumpLogsOnFailure } from '../helpers/server-checks.js';
import {
  STUB,
  SUEXEC_BIN,
  WSGI_CGI_BUILT,
  WSGI_CGI_COMMAND,
  createTestUser,
  daemonsOf,
  installStub,
  installWsgiCgi,
  modeOf,
  pointWsgiCgiAt,
  suexecLogMark,
  suexecLogSince,
  type TestUser,
} from '../helpers/apache-cgi.js';

const MODULES = ['cgid', 'alias', 'actions', 'rewrite', 'userdir', 'suexec', 'dir', 'env'];
const FIXTURES = join(REPO, 'test', 'fixtures', 'e2e-cgi');
/** The guides' example site folder and user, replaced by the test's. */
const EXAMPLE_SITE = '/var/www/example';
const EXAMPLE_USER = 'alice';

function hasFrameworks(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import flask, django'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available =
  isRoot() &&
  hasApacheModules(...MODULES) &&
  existsSync(SUEXEC_BIN) &&
  findBinary('useradd') !== null &&
  findBinary('curl') !== null &&
  existsSync('/var/www') &&
  hasFrameworks() &&
  (canPinSuexec() || realpathSync(SUEXEC_BIN) === SUEXEC_PRISTINE);

interface Seen {
  script_name: string;
  path_info: string;
  query_string: string;
  request_uri: string | null;
  uid: number;
  pid: number;
  run_once: boolean;
  env_path: string | null;
  env_home: string | null;
  path_info_hex: string;
  url_vars: Record<string, string>;
}

/** The docs' layout-4 block (the pretty-URL rewrite under /blog/), for another folder. */
function prettyUrlBlock(site: string, folder: string): string {
  const block = /<Directory [^>\n]*\/www\/blog>[\s\S]*?<\/Directory>\n/.exec(site);
  if (!block) throw new Error('docs/apache-cgi.md: no layout-4 <Directory …/www/blog> block');
  return block[0].replace('/www/blog>', `/www/${folder}>`);
}

function locationOf(res: CurlResult): string | undefined {
  return /^location: *(.*?)\r?$/im.exec(res.headers)?.[1];
}

/**
 * Layouts 3 and 4 together, for another folder: the Action handler runs a .wsgi that is not
 * executable, and the rewrite hides it. Two internal redirects: REDIRECT_URL names the script.
 */
function actionRewriteBlock(site: string, folder: string): string {
  const action = /<Directory [^>\n]*\/www\/site>\n([\s\S]*?)<\/Directory>/.exec(site)?.[1];
  const rewrite = prettyUrlBlock(site, folder)
    .split('\n')
    .filter((line) => /^\s*Rewrite/.test(line));
  if (!action || rewrite.length === 0) throw new Error('docs/apache-cgi.md: no layout-3 or layout-4 block');
  const dir = /<Directory ([^>\n]*)\/www\/site>/.exec(site)![1]!;
  return `<Directory ${dir}/www/${folder}>\n${action}${rewrite.join('\n')}\n</Directory>\n`;
}

/** PEP 3333's PATH_INFO for a percent-encoded path (gunicorn's): the decoded bytes, as hex. */
function decodedHex(path: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    if (path[i] === '%') {
      bytes.push(parseInt(path.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(path.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString('hex');
}

/** Paths the plain CGI layouts pass to the app, and the documented rewrite rules must too. */
const HARD_PATHS = ['/e/100%25', '/e/a%20b', '/e/a%2Fb', '/e/a%3Fb', '/e/caf%C3%A9', '/e/%E9t%E9', '/e/%252F'];

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** All of the app logs in a folder, concatenated. */
function logsIn(dir: string): string {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.log'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
  } catch {
    return '';
  }
}

describe.skipIf(!available)('Apache CGI → wsgi-cgi (docs/apache-cgi.md, docs/suexec.md)', () => {
  let undoLink: () => void = () => {};
  let base: string;
  let logs: string;
  let apache: WebServer;
  let user: TestUser;
  let userLogs: string;
  /** ~user/public_html/app.wsgi: the daemon-mode app. */
  let userApp: string;

  async function get(path: string, args: string[] = []): Promise<CurlResult> {
    return curl(apache.url + path, args);
  }

  async function seen(path: string): Promise<Seen> {
    const res = await get(path);
    if (res.status !== 200) throw new Error(`${path}: ${res.status}\n${res.body}`);
    return JSON.parse(res.body) as Seen;
  }

  /**
   * A .wsgi as the site's admin (root) puts one in: `source` at `file` with `mode`, and its sidecar
   * naming the log folder outside the document root. Daemon mode needs ~www-data/.wsgikit (see the
   * guide), which this test does not create: these apps run one-shot.
   */
  function place(file: string, source: string, mode: number, extra = ''): void {
    writeFileSync(file, source);
    chmodSync(file, mode);
    writeFileSync(`${file}.toml`, `log_dir = "${logs}"\ncgi_daemon = false\n${extra}`);
    chmodSync(`${file}.toml`, 0o644);
  }

  /** A file in the test user's space, owned by the user. */
  function userFile(file: string, source: string, mode: number): void {
    writeFileSync(file, source);
    chmodSync(file, mode);
    chownSync(file, user.uid, user.gid);
  }

  function userDir(dir: string): void {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    chownSync(dir, user.uid, user.gid);
  }

  beforeAll(async () => {
    undoLink = installWsgiCgi();

    // The www-data site: /var/www/wsgikit-e2e-cgi-*/ with www/ (DocumentRoot), apps/ (ScriptAlias
    // target), cgi-bin/ (the Action's wsgi-cgi) and logs/ (www-data's, outside the document root).
    base = mkdtempSync('/var/www/wsgikit-e2e-cgi-');
    chmodSync(base, 0o755);
    const www = join(base, 'www');
    logs = join(base, 'logs');
    mkdirs(
      www,
      join(www, 'dir'),
      join(www, 'site'),
      join(www, 'blog'),
      join(www, 'pretty'),
      join(www, 'django'),
      join(www, 'djsite'),
      join(www, 'actionpretty'),
      join(base, 'apps'),
      join(base, 'cgi-bin'),
    );
    mkdirSync(logs, { mode: 0o700 });
    const wwwData = userIds('www-data')!;
    chownSync(logs, wwwData.uid, wwwData.gid);
    const env = fixture('env.wsgi');
    place(join(base, 'apps', 'app.wsgi'), env, 0o755);
    place(join(www, 'dir', 'app.wsgi'), env, 0o755);
    place(join(www, 'dir', 'owner.wsgi'), env, 0o755, 'owner_addresses = ["127.0.0.1"]\n');
    place(join(www, 'site', 'app.wsgi'), env, 0o644);
    place(join(www, 'site', 'open.wsgi'), env, 0o666);
    place(join(www, 'blog', 'app.wsgi'), fixture('blog.wsgi'), 0o755);
    place(join(www, 'pretty', 'app.wsgi'), env, 0o755);
    place(join(www, 'django', 'app.wsgi'), fixture('django.wsgi'), 0o755);
    place(join(www, 'djsite', 'app.wsgi'), fixture('django.wsgi'), 0o644);
    place(join(www, 'actionpretty', 'app.wsgi'), env, 0o644);
    // Without suEXEC any copy of the stub will do (suexec/README.md).
    copyFileSync(STUB, join(base, 'cgi-bin', 'wsgi-cgi'));
    chmodSync(join(base, 'cgi-bin', 'wsgi-cgi'), 0o755);

    // The hosting user under suEXEC: ~user/public_html with a shebang .wsgi (daemon mode, all
    // defaults, no sidecar), a group-writable one suEXEC refuses, and an Action-handler site.
    user = createTestUser();
    chmodSync(user.home, 0o711);
    const html = join(user.home, 'public_html');
    userDir(html);
    userApp = join(html, 'app.wsgi');
    userFile(userApp, env, 0o755);
    userDir(join(html, 'gw'));
    userFile(join(html, 'gw', 'app.wsgi'), env, 0o775);
    userDir(join(html, 'site'));
    userFile(join(html, 'site', 'app.wsgi'), env, 0o644);
    userFile(join(html, 'site', 'open.wsgi'), env, 0o664);
    userFile(
      join(html, 'site', '.htaccess'),
      configFromGuide('suexec.md', 'userdir-htaccess', [[EXAMPLE_USER, user.name]]),
      0o644,
    );
    installStub([user.name]);
    userDir(join(html, 'blog'));
    userFile(join(html, 'blog', 'app.wsgi'), env, 0o755);
    userFile(
      join(html, 'blog', '.htaccess'),
      configFromGuide('suexec.md', 'userdir-rewrite-htaccess', [[EXAMPLE_USER, user.name]]),
      0o644,
    );
    userLogs = join(user.home, '.wsgikit', 'logs');

    const dir = e2eDir('apache-cgi');
    const port = await freePort();
    const guideSite = configFromGuide('apache-cgi.md', 'apache-cgi-site', [[EXAMPLE_SITE, base]]);
    // Layout 4's rule again, for the env app and for Django's admin.
    const site =
      guideSite +
      prettyUrlBlock(guideSite, 'pretty') +
      prettyUrlBlock(guideSite, 'django') +
      actionRewriteBlock(guideSite, 'djsite') +
      actionRewriteBlock(guideSite, 'actionpretty') +
      configFromGuide('suexec.md', 'apache-userdir', []);
    apache = await startApache(dir, port, MODULES, site, {
      ...(canPinSuexec() ? { suexec: { binary: SUEXEC_PRISTINE } } : {}),
    });
  });

  afterAll(async () => {
    await apache?.stop();
    user?.remove();
    if (base && !process.env.WSGIKIT_KEEP_E2E) rmSync(base, { recursive: true, force: true });
    removeTempDirs();
    undoLink();
  });

  dumpLogsOnFailure(() => [
    ['apache error log', apache?.errorLog() ?? ''],
    ['www-data app logs', logs ? logsIn(logs) : ''],
    ['test user app logs', userLogs ? logsIn(userLogs) : ''],
  ]);

  it('runs suEXEC for userdir requests', () => {
    expect(apache.errorLog()).toContain('suEXEC mechanism enabled');
  });

  // The gateway's own rule (src/environ/content-length.ts) is for what reaches it; Apache answers
  // a Content-Length header that is not a plain decimal with its own 400 before any CGI runs.
  describe('a Content-Length that is not a length', () => {
    it.each(['-5', 'abc', '12abc', '+5', '1e3'])(
      '%j: Apache answers 400 itself; the app never runs',
      async (length) => {
        const before = logsIn(logs).length;
        const res = await get('/app/body', ['-X', 'POST', '-H', `Content-Length: ${length}`, '--data-binary', 'hello']);
        expect(res.status).toBe(400);
        expect(res.body).toContain('<title>400 Bad Request</title>');
        expect(res.body).not.toMatch(INCIDENT);
        expect(logsIn(logs).length).toBe(before);
      },
    );

    it('a plain decimal reaches the app', async () => {
      const res = await get('/app/body', ['-X', 'POST', '-H', 'Content-Length: 5', '--data-binary', 'hello']);
      expect(res.status, res.body).toBe(200);
    });
  });

  // The same requests through each entry, with one Apache: the link the shebangs and the stubs
  // run is pointed at the Node entry, then at the native launcher.
  describe.each(CGI_ENTRIES)('through the $name entry', (entry) => {
    beforeAll(() => pointWsgiCgiAt(entry.name === 'native' ? WSGI_CGI_COMMAND : WSGI_CGI_BUILT));

    describe('1. ScriptAlias /app to a .wsgi', () => {
      it('gives SCRIPT_NAME /app and the rest as PATH_INFO', async () => {
        const s = await seen('/app/foo?x=1');
        expect(s).toMatchObject({ script_name: '/app', path_info: '/foo', query_string: 'x=1', run_once: true });
        expect(s.uid).toBe(userIds('www-data')!.uid);
        expect(await seen('/app')).toMatchObject({ script_name: '/app', path_info: '' });
      });
    });

    describe('2. AddHandler cgi-script .wsgi with the wsgi-cgi shebang', () => {
      it('gives SCRIPT_NAME /dir/app.wsgi and PATH_INFO /foo', async () => {
        expect(await seen('/dir/app.wsgi/foo?x=1')).toMatchObject({
          script_name: '/dir/app.wsgi',
          path_info: '/foo',
          query_string: 'x=1',
        });
        expect(await seen('/dir//app.wsgi//foo')).toMatchObject({ script_name: '/dir/app.wsgi', path_info: '/foo' });
        expect(await seen('/dir/app.wsgi/caf%C3%A9%20x')).toMatchObject({ path_info: '/café x' });
      });

      // For a query string without "=", Apache passes its words to the program as arguments too
      // (RFC 3875 §4.4): the kernel runs `wsgi-cgi /path/app.wsgi bar`; wsgi-cgi must ignore them.
      it('passes a query string without "=" to the app (?bar, ?a+b, ?caf%C3%A9)', async () => {
        for (const q of ['bar', 'a+b', 'caf%C3%A9']) {
          expect(await seen(`/dir/app.wsgi/foo?${q}`)).toMatchObject({ path_info: '/foo', query_string: q });
        }
      });

      // Apache (mod_cgid create_argv) passes each word through ap_escape_shell_cmd: `?debug&verbose`
      // arrives as the argument `debug\\&verbose`, so wsgi-cgi drops the words by count, not by value.
      it('passes a query string without "=" holding shell metacharacters (?debug&verbose, ?100%)', async () => {
        expect(await seen('/dir/app.wsgi/foo?debug&verbose')).toMatchObject({ query_string: 'debug&verbose' });
        expect(await seen('/dir/app.wsgi/foo?100%')).toMatchObject({ query_string: '100%' });
      });
    });

    describe('3. Action handler: suexec/wsgi-cgi for every .wsgi', () => {
      it('gives SCRIPT_NAME /site/app.wsgi and PATH_INFO /foo for a .wsgi that is not executable', async () => {
        expect(await seen('/site/app.wsgi/foo?x=1')).toMatchObject({
          script_name: '/site/app.wsgi',
          path_info: '/foo',
          query_string: 'x=1',
        });
      });

      it('passes a query string without "=" to the app: the stub drops the words Apache adds as arguments', async () => {
        expect(await seen('/site/app.wsgi/foo?bar+baz')).toMatchObject({ path_info: '/foo', query_string: 'bar+baz' });
      });
    });

    describe('4. mod_rewrite hides app.wsgi under /blog/ (Flask)', () => {
      it('gives the app SCRIPT_NAME /blog, so url_for links never name app.wsgi', async () => {
        const res = await get('/blog/post/1');
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toEqual({
          script_root: '/blog',
          path: '/post/1',
          number: 1,
          link: '/blog/post/1',
          home: '/blog/',
          external: `${apache.url}/blog/post/1`,
        });
        const index = await get('/blog/');
        expect(index.status).toBe(200);
        expect(index.body).toContain('href="/blog/post/1"');
        expect(index.body).toContain('href="/blog/caf%C3%A9"');
        expect(index.body).not.toContain('app.wsgi');
      });

      it('decodes a percent-encoded path once', async () => {
        const res = await get('/blog/caf%C3%A9');
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toEqual({
          script_root: '/blog',
          path: '/café',
          name: 'café',
          link: '/blog/caf%C3%A9',
        });
      });

      it('keeps SCRIPT_NAME /blog for a path with runs of slashes', async () => {
        const res = await get('/blog//post//1');
        expect(res.status, res.body).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ script_root: '/blog', path: '/post/1', link: '/blog/post/1' });
      });
    });

    describe('4. the rewrite rule: every URL variable and every path', () => {
      it('leaves no variable naming /pretty/app.wsgi: each says SCRIPT_NAME + PATH_INFO', async () => {
        const s = await seen('/pretty/post/1?x=1');
        expect(s).toMatchObject({ script_name: '/pretty', path_info: '/post/1', query_string: 'x=1' });
        expect(Object.keys(s.url_vars)).toEqual(['REDIRECT_URL']);
        for (const [name, value] of Object.entries(s.url_vars)) {
          expect(value.replace(/^http:\/\/[^/]*/, ''), name).toBe('/pretty/post/1');
        }
      });

      // Two internal redirects (the rewrite, then the Action): Apache's REDIRECT_URL is the
      // script's URL, /actionpretty/app.wsgi, and Django took its prefix from it.
      it('with the Action handler behind the rule too, REDIRECT_URL says SCRIPT_NAME + PATH_INFO', async () => {
        const s = await seen('/actionpretty/post/1?x=1');
        expect(s).toMatchObject({ script_name: '/actionpretty', path_info: '/post/1', query_string: 'x=1' });
        expect(s.url_vars).toEqual({ REDIRECT_URL: '/actionpretty/post/1' });
      });

      // PEP 3333: PATH_INFO is the decoded path as bytes; the same in every layout, as under gunicorn.
      it.each(HARD_PATHS)('passes %s as the ScriptAlias layout does', async (path) => {
        const plain = await get(`/app${path}`);
        const pretty = await get(`/pretty${path}`);
        expect(plain.status, plain.body).toBe(200);
        expect(pretty.status, pretty.body).toBe(200);
        const want = decodedHex(path);
        expect((JSON.parse(plain.body) as Seen).path_info_hex).toBe(want);
        expect(JSON.parse(pretty.body) as Seen).toMatchObject({ script_name: '/pretty', path_info_hex: want });
      });
    });

    describe("4. Django's admin behind the rewrite rule", () => {
      it('redirects /django/admin/ to /django/admin/login/, never naming app.wsgi', async () => {
        const res = await get('/django/admin/');
        expect(res.status, res.body).toBe(302);
        expect(locationOf(res)).toBe('/django/admin/login/?next=/django/admin/');
      });

      it('adds the slash to /django/admin under the prefix', async () => {
        const res = await get('/django/admin');
        expect(res.status, res.body).toBe(301);
        expect(locationOf(res)).toBe('/django/admin/');
      });

      it('redirects to the login page under the prefix with the Action handler behind the rule too', async () => {
        const res = await get('/djsite/admin/');
        expect(res.status, res.body).toBe(302);
        expect(locationOf(res)).toBe('/djsite/admin/login/?next=/djsite/admin/');
        const login = await get('/djsite/admin/login/?next=/djsite/admin/');
        expect(login.status, login.body).toBe(200);
        expect(login.body).toContain('action="/djsite/admin/login/?next=/djsite/admin/"');
        expect(login.body).not.toContain('app.wsgi');
      });

      it('links the login page under /django/admin/ and /django/static/', async () => {
        const res = await get('/django/admin/login/?next=/django/admin/');
        expect(res.status, res.body).toBe(200);
        expect(res.body).toContain('action="/django/admin/login/?next=/django/admin/"');
        expect(res.body).toContain('href="/django/static/admin/css/base.css"');
        expect(res.body).toContain('href="/django/admin/"');
        expect(res.body).not.toContain('app.wsgi');
      });
    });

    describe('5. userdir under suEXEC', () => {
      it('runs the app as the user with SCRIPT_NAME /~user/app.wsgi', async () => {
        const s = await seen(`/~${user.name}/app.wsgi/foo?x=1`);
        expect(s).toMatchObject({
          script_name: `/~${user.name}/app.wsgi`,
          path_info: '/foo',
          query_string: 'x=1',
          uid: user.uid,
          // suEXEC's cleaned environment: AP_SAFE_PATH and no HOME.
          env_path: '/usr/local/bin:/usr/bin:/bin',
          env_home: null,
        });
      });

      it("keeps the log and the daemon's socket in the user's home, the user's alone", async () => {
        await seen(`/~${user.name}/app.wsgi/`);
        const logFiles = readdirSync(userLogs).filter((f) => f.endsWith('.log'));
        expect(logFiles.length).toBeGreaterThan(0);
        for (const f of logFiles) expect(modeOf(join(userLogs, f))).toMatchObject({ uid: user.uid, type: 'file' });
        const run = join(user.home, '.wsgikit', 'run');
        expect(modeOf(run)).toMatchObject({ uid: user.uid, mode: 0o700, type: 'dir' });
        const sockets = readdirSync(run).filter((f) => f.endsWith('.sock'));
        expect(sockets).toHaveLength(1);
        expect(modeOf(join(run, sockets[0]!))).toMatchObject({ uid: user.uid, type: 'socket', mode: 0o600 });
      });

      it('serves the Action-handler layout through the stub install-stub.sh put in ~user/public_html/cgi-bin', async () => {
        expect(installStub(['--check', user.name])).toContain('passes every suEXEC check');
        const s = await seen(`/~${user.name}/site/app.wsgi/foo?x=1`);
        expect(s).toMatchObject({
          script_name: `/~${user.name}/site/app.wsgi`,
          path_info: '/foo',
          query_string: 'x=1',
          uid: user.uid,
        });
      });
      it('hides app.wsgi under ~user/blog/ with a .htaccess rewrite: SCRIPT_NAME /~user/blog', async () => {
        expect(await seen(`/~${user.name}/blog/post/1?x=1`)).toMatchObject({
          script_name: `/~${user.name}/blog`,
          path_info: '/post/1',
          query_string: 'x=1',
          uid: user.uid,
        });
        expect(await seen(`/~${user.name}/blog/`)).toMatchObject({
          script_name: `/~${user.name}/blog`,
          path_info: '/',
        });
      });

      it.each(HARD_PATHS)("passes %s through ~user/blog's rewrite as the AddHandler layout does", async (path) => {
        const plain = await get(`/~${user.name}/app.wsgi${path}`);
        const pretty = await get(`/~${user.name}/blog${path}`);
        expect(plain.status, plain.body).toBe(200);
        expect(pretty.status, pretty.body).toBe(200);
        const want = decodedHex(path);
        expect((JSON.parse(plain.body) as Seen).path_info_hex).toBe(want);
        expect(JSON.parse(pretty.body) as Seen).toMatchObject({
          script_name: `/~${user.name}/blog`,
          path_info_hex: want,
        });
      });
    });

    describe('6. daemon mode through Apache', () => {
      it('serves 20 sequential requests from one worker process', async () => {
        const pids = new Set<number>();
        for (let i = 0; i < 20; i++) {
          const s = await seen(`/~${user.name}/app.wsgi/n${i}`);
          expect(s).toMatchObject({ path_info: `/n${i}`, run_once: false, uid: user.uid });
          pids.add(s.pid);
        }
        expect(pids.size).toBe(1);
        expect(daemonsOf(user.uid)).toHaveLength(1);
      });

      it('replaces a killed daemon on the next request', async () => {
        // The daemon's "ready" lines, in its own log beside its socket.
        const listening = () =>
          [...logsIn(join(user.home, '.wsgikit', 'run')).matchAll(/"pid":(\d+),"name":"wsgi-fcgi","listen"/g)].map(
            (m) => Number(m[1]),
          );
        const before = await seen(`/~${user.name}/app.wsgi/before`);
        const [daemon] = daemonsOf(user.uid);
        expect(listening()).toContain(daemon);
        process.kill(daemon!, 'SIGKILL');
        await eventually(() => !daemonsOf(user.uid).includes(daemon!), 'the killed daemon to go');
        const after = await seen(`/~${user.name}/app.wsgi/after`);
        expect(after).toMatchObject({ path_info: '/after', run_once: false });
        expect(after.pid).not.toBe(before.pid);
        const now = await eventually(() => {
          const d = daemonsOf(user.uid);
          return d.length === 1 && d[0] !== daemon ? d : null;
        }, 'a new daemon');
        expect(listening()).toContain(now[0]);
      });
    });

    describe('7. errors through Apache', () => {
      it('shows a stranger a 500 with an incident id and no traceback; the log has both', async () => {
        const res = await get('/dir/app.wsgi/boom');
        expect(res.status).toBe(500);
        expect(res.body).not.toContain('secret detail');
        expect(res.body).not.toContain('Traceback');
        const incident = INCIDENT.exec(res.body)?.[0];
        expect(incident).toBeDefined();
        const log = logsIn(logs);
        expect(log).toContain(`incident ${incident}`);
        expect(log).toContain('RuntimeError: secret detail 1234');
      });

      it('shows the owner (owner_addresses = ["127.0.0.1"]) the traceback', async () => {
        const res = await get('/dir/owner.wsgi/boom');
        expect(res.status).toBe(500);
        expect(res.body).toContain('secret detail 1234');
        expect(res.body).toMatch(INCIDENT);
      });

      it("keeps the app's print() and raw writes to fd 1 and 2 out of the response", async () => {
        const res = await get('/dir/app.wsgi/print');
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ path_info: '/print' });
        const log = logsIn(logs);
        expect(log).toContain('print() from the app');
        expect(log).toContain('raw bytes on fd 1');
        expect(log).toContain('raw bytes on fd 2');
      });

      it('refuses a .wsgi others may write with 403; the reason and the fix go to the error log', async () => {
        const res = await get('/site/open.wsgi/x');
        expect(res.status).toBe(403);
        expect(res.body).not.toContain(base);
        await eventually(
          () => apache.errorLog().includes(`chmod go-w ${join(base, 'www', 'site', 'open.wsgi')}`),
          'the reason in the error log',
        );
      });

      it('answers 404 for a .wsgi that is not there (Apache checks before the Action runs)', async () => {
        expect((await get('/site/missing.wsgi/x')).status).toBe(404);
      });

      it("under suEXEC, refuses a group-writable .wsgi behind the stub with 403; the fix goes to the user's log", async () => {
        const res = await get(`/~${user.name}/site/open.wsgi/x`);
        expect(res.status).toBe(403);
        expect(res.body).not.toContain(user.home);
        const incident = INCIDENT.exec(res.body)?.[0];
        expect(incident).toBeDefined();
        const log = logsIn(userLogs);
        expect(log).toContain(`incident ${incident}`);
        expect(log).toContain(`chmod go-w ${join(user.home, 'public_html', 'site', 'open.wsgi')}`);
      });

      it('keeps print() out of the response in daemon mode too', async () => {
        expect(await seen(`/~${user.name}/app.wsgi/print`)).toMatchObject({ path_info: '/print', run_once: false });
        expect(logsIn(userLogs)).toContain('raw bytes on fd 1');
      });

      it('under suEXEC, a group-writable .wsgi is refused by suEXEC itself: a bare 500, the reason in suexec.log', async () => {
        const mark = suexecLogMark();
        const res = await get(`/~${user.name}/gw/app.wsgi/x`);
        expect(res.status).toBe(500);
        expect(res.body).toContain('Internal Server Error');
        await eventually(
          () => apache.errorLog().includes('suexec policy violation'),
          'the policy line in the error log',
        );
        expect(suexecLogSince(mark)).toContain('file is writable by others');
      });
    });
  });
});
