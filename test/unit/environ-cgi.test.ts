import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { transformSync } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { environFromCgi, environFromEnvironBlock, isRequestVariable, readCgiEnviron } from '../../src/environ/cgi.js';

const CGI_ENV: NodeJS.ProcessEnv = {
  // What Apache (through suEXEC) hands a CGI program.
  GATEWAY_INTERFACE: 'CGI/1.1',
  SERVER_SOFTWARE: 'Apache/2.4.62 (Debian)',
  SERVER_NAME: 'example.org',
  SERVER_ADDR: '192.0.2.1',
  SERVER_PORT: '443',
  SERVER_ADMIN: 'webmaster@example.org',
  SERVER_SIGNATURE: '',
  SERVER_PROTOCOL: 'HTTP/1.1',
  REQUEST_METHOD: 'POST',
  REQUEST_SCHEME: 'https',
  REQUEST_URI: '/app.wsgi/foo?x=1',
  SCRIPT_NAME: '/app.wsgi',
  SCRIPT_FILENAME: '/home/u/public_html/app.wsgi',
  PATH_INFO: '/foo',
  PATH_TRANSLATED: '/home/u/public_html/foo',
  QUERY_STRING: 'x=1',
  CONTENT_TYPE: 'application/json',
  CONTENT_LENGTH: '12',
  DOCUMENT_ROOT: '/home/u/public_html',
  CONTEXT_PREFIX: '',
  CONTEXT_DOCUMENT_ROOT: '/home/u/public_html',
  REMOTE_ADDR: '198.51.100.7',
  REMOTE_PORT: '53122',
  REMOTE_USER: 'ann',
  AUTH_TYPE: 'Basic',
  HTTPS: 'on',
  SSL_PROTOCOL: 'TLSv1.3',
  SSL_CIPHER: 'TLS_AES_256_GCM_SHA384',
  UNIQUE_ID: 'ZqX0AcCoAAEAAB2mAAAAAA',
  SCRIPT_URL: '/app.wsgi/foo',
  SCRIPT_URI: 'https://example.org/app.wsgi/foo',
  REDIRECT_STATUS: '200',
  REDIRECT_URL: '/app.wsgi/foo',
  HTTP_HOST: 'example.org',
  HTTP_USER_AGENT: 'curl/8.5.0',
  HTTP_COOKIE: 'a=1; b=2',
  HTTP_X_FORWARDED_FOR: '203.0.113.9',
  // What describes the process, not the request.
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/home/u',
  USER: 'u',
  SHELL: '/bin/sh',
  PWD: '/home/u/public_html',
  TZ: 'UTC',
  LANG: 'C.UTF-8',
  LD_PRELOAD: '/tmp/evil.so',
  LD_LIBRARY_PATH: '/tmp',
  NODE_OPTIONS: '--inspect',
  NODE_PATH: '/tmp',
  PYTHONPATH: '/tmp',
  WSGI_SETTING: 'x',
  SHLVL: '1',
  _: '/usr/bin/node',
};

describe('environFromCgi', () => {
  it('keeps the CGI meta-variables and request headers, drops the process environment', () => {
    const environ = environFromCgi(CGI_ENV);
    const dropped = [
      'PATH',
      'HOME',
      'USER',
      'SHELL',
      'PWD',
      'TZ',
      'LANG',
      'LD_PRELOAD',
      'LD_LIBRARY_PATH',
      'NODE_OPTIONS',
      'NODE_PATH',
      'PYTHONPATH',
      'WSGI_SETTING',
      'SHLVL',
      '_',
    ];
    const kept = Object.keys(CGI_ENV).filter((k) => !dropped.includes(k));
    expect(Object.keys(environ).sort()).toEqual(kept.sort());
    for (const key of kept) expect(environ[key]).toBe(CGI_ENV[key]);
  });

  it('re-encodes non-ASCII values to their bytes, one latin-1 character per byte', () => {
    const environ = environFromCgi({ PATH_INFO: '/café/日本', HTTP_X_NAME: 'Zoë' });
    expect(environ.PATH_INFO).toBe('/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac');
    expect(environ.HTTP_X_NAME).toBe('Zo\xc3\xab');
    // Round trip: the bytes decode back to what the server sent.
    expect(Buffer.from(environ.PATH_INFO!, 'latin1').toString('utf8')).toBe('/café/日本');
    for (const ch of environ.PATH_INFO!) expect(ch.charCodeAt(0)).toBeLessThan(256);
  });

  it('skips undefined values', () => {
    expect(environFromCgi({ PATH_INFO: undefined, SCRIPT_NAME: '' })).toEqual({ SCRIPT_NAME: '' });
  });
});

describe('isRequestVariable', () => {
  it.each([
    ['HTTP_ACCEPT', true],
    ['HTTP_PROXY', true], // the client's Proxy header: part of the request, never the process's proxy
    ['SSL_CLIENT_S_DN', true],
    ['REDIRECT_HANDLER', true],
    ['REDIRECT_REDIRECT_URL', true],
    ['CONTEXT_PREFIX', true],
    ['REQUEST_URI', true],
    ['UNIQUE_ID', true],
    ['PATH', false],
    ['HOME', false],
    ['LD_PRELOAD', false],
    ['NODE_OPTIONS', false],
    ['http_host', false],
    ['XHTTP_HOST', false],
  ])('%s → %s', (name, kept) => {
    expect(isRequestVariable(name)).toBe(kept);
  });
});

describe('environFromEnvironBlock', () => {
  it('reads NAME=value\\0 entries as bytes, keeping only request variables', () => {
    const block = Buffer.concat([
      Buffer.from('PATH=/bin\0PATH_INFO=/caf'),
      Buffer.from([0xe9]), // latin-1 é: not valid UTF-8
      Buffer.from('/x\0QUERY_STRING=a=b=c\0NOEQUALS\0=junk\0'),
    ]);
    expect(environFromEnvironBlock(block)).toEqual({ PATH_INFO: '/caf\xe9/x', QUERY_STRING: 'a=b=c' });
  });
});

describe('readCgiEnviron', () => {
  const temps: string[] = [];
  afterEach(() => {
    for (const d of temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  function environFile(block: Buffer): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-environ-'));
    temps.push(dir);
    const file = path.join(dir, 'environ');
    fs.writeFileSync(file, block);
    return file;
  }

  it('uses process.env alone when nothing was lost (no file read)', () => {
    const environ = readCgiEnviron({ PATH_INFO: '/café', PATH: '/bin' }, '/nonexistent/environ');
    expect(environ).toEqual({ PATH_INFO: '/caf\xc3\xa9' });
  });

  it('takes the exact bytes from the environ block when Node decoded them to U+FFFD', () => {
    const file = environFile(
      Buffer.concat([Buffer.from('PATH_INFO=/caf'), Buffer.from([0xe9]), Buffer.from('\0SCRIPT_NAME=/app.wsgi\0')]),
    );
    const environ = readCgiEnviron({ PATH_INFO: '/caf\ufffd', SCRIPT_NAME: '/app.wsgi' }, file);
    expect(environ).toEqual({ PATH_INFO: '/caf\xe9', SCRIPT_NAME: '/app.wsgi' });
  });

  it('ignores a block value that is no longer the one process.env has', () => {
    const file = environFile(Buffer.concat([Buffer.from('PATH_INFO=/old'), Buffer.from([0xe9]), Buffer.from('\0')]));
    const environ = readCgiEnviron({ PATH_INFO: '/new\ufffd' }, file);
    expect(environ.PATH_INFO).toBe('/new\xef\xbf\xbd');
  });

  it('keeps the lossy values when the block cannot be read', () => {
    expect(readCgiEnviron({ PATH_INFO: '/caf\ufffd' }, '/nonexistent/environ')).toEqual({
      PATH_INFO: '/caf\xef\xbf\xbd',
    });
  });

  it.runIf(process.platform === 'linux')('gets invalid UTF-8 bytes exactly in a real CGI process', () => {
    // cgi.ts has no imports but node:fs, so esbuild can turn it into a module a plain node runs.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-environ-'));
    temps.push(dir);
    const js = path.join(dir, 'cgi.mjs');
    fs.writeFileSync(
      js,
      transformSync(fs.readFileSync('src/environ/cgi.ts', 'utf8'), { loader: 'ts', format: 'esm' }).code,
    );
    const script = `import(${JSON.stringify(js)}).then((m) => process.stdout.write(JSON.stringify(m.readCgiEnviron())))`;
    // bash's $'\xe9' puts the raw byte in the child's environment, as Apache does for a %E9 in the URL.
    const child = spawnSync(
      'bash',
      ['-c', `exec env -i PATH_INFO=$'/caf\\xe9/\\xc3\\xa9' HOME=/x "$0" -e "$1"`, process.execPath, script],
      { encoding: 'utf8' },
    );
    expect(child.stderr).toBe('');
    expect(JSON.parse(child.stdout)).toEqual({ PATH_INFO: '/caf\xe9/\xc3\xa9' });
  });
});
