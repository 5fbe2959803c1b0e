import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import { AppLog, defaultLogFile, isUnder, newIncidentId } from '../../src/logs/app-log.js';
import { INCIDENT_ID_PATTERN } from '../../src/logs/incident-id.js';
import { MAX_LINE_BYTES } from '../../src/logs/log-line.js';

const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[/;

let dir: string;
const opened: AppLog[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wsgikit-logs-'));
});
afterEach(() => {
  for (const log of opened.splice(0)) log.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(options: Partial<Parameters<typeof AppLog.open>[0]> = {}): AppLog {
  const log = AppLog.open({ file: join(dir, 'logs', 'app.log'), maxBytes: 10 * 1024 * 1024, keep: 3, ...options });
  opened.push(log);
  return log;
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

describe('AppLog lines', () => {
  it('writes `ISO-time [source] text` lines', () => {
    const log = open();
    log.write('stdout', 'hello world');
    log.write('pid 1234', 'started');
    const [first, second] = lines(log.file);
    expect(first).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[stdout\] hello world$/);
    expect(second).toMatch(/Z \[pid 1234\] started$/);
    expect(Date.parse(first!.slice(0, 24))).toBeGreaterThan(Date.now() - 60_000);
  });

  it('gives each line of a multi-line text its own prefix, and keeps tabs', () => {
    const log = open();
    log.write('stderr', 'one\ntwo\r\n\tthree\n');
    const written = lines(log.file);
    expect(written).toHaveLength(3);
    expect(written.map((line) => line.replace(/^\S+ \[stderr\] /, ''))).toEqual(['one', 'two', '\tthree']);
  });

  it('writes an empty text as one empty line rather than dropping it', () => {
    const log = open();
    log.write('stdout', '');
    expect(lines(log.file)).toHaveLength(1);
  });

  it('escapes a CR, escape sequences and other controls so app output cannot forge a line', () => {
    const log = open();
    log.write('stdout', 'ok\r2026-01-01T00:00:00.000Z [wsgikit] forged\x1b[2K\x00\x7f\u0085\u2028end');
    const written = readFileSync(log.file, 'utf8');
    expect(written.split('\n')).toHaveLength(2);
    // eslint-disable-next-line no-control-regex
    expect(written).not.toMatch(/[\r\x00-\x08\x0b-\x1f\x7f-\x9f\u2028]/);
    expect(written).toContain('ok\\r2026-01-01T00:00:00.000Z [wsgikit] forged\\x1b[2K\\x00\\x7f\\x85\\u2028end');
  });

  it('keeps a source from closing its own bracket', () => {
    const log = open();
    log.write('evil] [wsgikit', 'x');
    expect(lines(log.file)[0]).toMatch(/Z \[evil wsgikit\] x$/);
  });

  it('splits a very long line into continued lines without dropping anything', () => {
    const log = open();
    const long = 'é'.repeat(MAX_LINE_BYTES) + '😀'.repeat(5000) + 'END';
    log.write('stdout', long);
    const written = lines(log.file);
    expect(written.length).toBeGreaterThan(2);
    for (const line of written) {
      expect(line).toMatch(STAMP);
      expect(Buffer.byteLength(line)).toBeLessThan(MAX_LINE_BYTES + 100);
    }
    const rejoined = written.map((line) => line.replace(/^\S+ \[stdout\] (\(continued\) )?/, '')).join('');
    expect(rejoined).toBe(long);
  });

  it('mirrors every line to echo', () => {
    const echoed: string[] = [];
    const log = open({ echo: (line) => echoed.push(line) });
    log.write('stdout', 'a\nb');
    expect(echoed).toEqual(lines(log.file));
    expect(echoed).toHaveLength(2);
  });

  it('creates the folder 0700 and the file 0600', () => {
    const log = open();
    expect(statSync(join(dir, 'logs')).mode & 0o777).toBe(0o700);
    expect(statSync(log.file).mode & 0o777).toBe(0o600);
  });

  it('appends to an existing log rather than truncating it', () => {
    open().write('stdout', 'first');
    open().write('stdout', 'second');
    expect(lines(join(dir, 'logs', 'app.log'))).toHaveLength(2);
  });
});

describe('incidents', () => {
  it('writes the incident line, then the detail indented, and returns the id', () => {
    const log = open();
    const traceback = 'Traceback (most recent call last):\n  File "/home/u/app.wsgi", line 3\nZeroDivisionError: x\n';
    const id = log.incident('exception in GET /', traceback);
    expect(id).toMatch(INCIDENT_ID_PATTERN);
    const written = lines(log.file);
    expect(written[0]).toMatch(new RegExp(`Z \\[wsgikit\\] incident ${id}: exception in GET /$`));
    expect(written.slice(1).map((line) => line.replace(/^\S+ \[wsgikit\] /, ''))).toEqual([
      '    Traceback (most recent call last):',
      '      File "/home/u/app.wsgi", line 3',
      '    ZeroDivisionError: x',
    ]);
    expect(readFileSync(log.file, 'utf8').match(new RegExp(id, 'g'))).toHaveLength(1);
  });

  it('makes short, readable ids that do not repeat over 10k', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = newIncidentId();
      expect(id).toMatch(INCIDENT_ID_PATTERN);
      ids.add(id);
    }
    expect(ids.size).toBe(10_000);
    expect([...ids].join('')).not.toMatch(/[ILOU]/);
  });
});

describe('rotation', () => {
  it('rotates at the cap and keeps exactly file, .1 and .2 with keep=2', () => {
    const log = open({ maxBytes: 1000, keep: 2 });
    for (let i = 0; i < 200; i++) log.write('stdout', `line ${i} ${'x'.repeat(40)}`);
    expect(readdirSync(join(dir, 'logs')).sort()).toEqual(['app.log', 'app.log.1', 'app.log.2']);
    for (const name of ['app.log', 'app.log.1', 'app.log.2']) {
      expect(statSync(join(dir, 'logs', name)).size).toBeLessThanOrEqual(1000);
    }
    // The newest lines are in the file, the ones just before in .1.
    expect(lines(log.file).at(-1)).toContain('line 199 ');
    const before = Number(lines(log.file)[0]!.match(/line (\d+)/)![1]);
    expect(lines(`${log.file}.1`).at(-1)).toContain(`line ${before - 1} `);
    expect(log.failures).toBe(0);
  });

  it('loses no line when two writers (two processes) share the file and both rotate', () => {
    const a = open({ maxBytes: 2000, keep: 100 });
    const b = open({ maxBytes: 2000, keep: 100 });
    const sent: string[] = [];
    for (let i = 0; i < 600; i++) {
      const [writer, name] = i % 3 === 0 ? [b, 'b'] : [a, 'a'];
      const text = `${name}-${i}`;
      writer.write('stdout', text);
      sent.push(text);
    }
    const files = readdirSync(join(dir, 'logs')).filter((name) => name.startsWith('app.log'));
    expect(files.length).toBeGreaterThan(5);
    const seen = files
      .flatMap((name) => lines(join(dir, 'logs', name)))
      .map((line) => line.replace(/^\S+ \[stdout\] /, ''));
    expect(seen.sort()).toEqual([...sent].sort());
    // Each writer saw the other's rotation and followed it: no file grew past the cap by more than
    // one line, which would be the sign of a writer stuck on an old file.
    for (const name of files) expect(statSync(join(dir, 'logs', name)).size).toBeLessThanOrEqual(2000);
    // And no writer rotated again what another had just started: every rotated file was full.
    for (const name of files.filter((name) => name !== 'app.log')) {
      expect(statSync(join(dir, 'logs', name)).size).toBeGreaterThan(2000 - 60);
    }
    // Order is kept across the chain: the newest file holds the last line.
    expect(lines(a.file).at(-1)).toContain('a-599');
    expect(a.failures + b.failures).toBe(0);
  });

  it('loses no line and breaks none when four real processes append and rotate at once', async () => {
    const { buildSync } = await import('esbuild');
    const { spawn } = await import('node:child_process');
    const bundle = join(dir, 'app-log.mjs');
    buildSync({
      entryPoints: [new URL('../../src/logs/app-log.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: bundle,
      logLevel: 'silent',
    });
    const file = join(dir, 'logs', 'app.log');
    const writer = `
      const { AppLog } = await import(${JSON.stringify(bundle)});
      const log = AppLog.open({ file: ${JSON.stringify(file)}, maxBytes: 8000, keep: 10000 });
      const name = process.argv[1];
      for (let i = 0; i < 1500; i++) log.write('pid ' + process.pid, name + '-' + i + ' ' + 'x'.repeat(i % 50));
      if (log.failures !== 0) process.exit(1);
    `;
    const names = ['p0', 'p1', 'p2', 'p3'];
    const codes = await Promise.all(
      names.map(
        (name) =>
          new Promise<number | null>((done) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', writer, name], { stdio: 'inherit' });
            child.on('exit', done);
          }),
      ),
    );
    expect(codes).toEqual([0, 0, 0, 0]);
    const files = readdirSync(join(dir, 'logs')).filter((name) => /^app\.log(\.\d+)?$/.test(name));
    expect(files.length).toBeGreaterThan(20);
    const all = files.flatMap((name) => lines(join(dir, 'logs', name)));
    for (const line of all) expect(line).toMatch(/^\S+Z \[pid \d+\] p\d-\d+ x*$/);
    const seen = all.map((line) => line.split(' ')[3]!).sort();
    expect(seen).toEqual(names.flatMap((name) => Array.from({ length: 1500 }, (_, i) => `${name}-${i}`)).sort());
    expect(existsSync(`${file}.rotating`)).toBe(false);
  });

  it('keeps writing in place while another process holds the rotation lock, and takes a stale one', () => {
    const log = open({ maxBytes: 200, keep: 1 });
    const lock = `${log.file}.rotating`;
    writeFileSync(lock, '99999\n');
    for (let i = 0; i < 20; i++) log.write('stdout', `held ${i}`);
    expect(existsSync(`${log.file}.1`)).toBe(false);
    expect(lines(log.file)).toHaveLength(20);
    const old = (Date.now() - 120_000) / 1000;
    utimesSync(lock, old, old);
    log.write('stdout', 'after');
    expect(existsSync(`${log.file}.1`)).toBe(true);
    expect(existsSync(lock)).toBe(false);
    expect(lines(log.file)[0]).toContain('after');
  });

  it('removes rotated files past a keep that was lowered since', () => {
    for (const n of [1, 2, 3, 4, 5]) writeFileSync(join(dir, `old.log.${n}`), 'old\n');
    const log = open({ file: join(dir, 'old.log'), maxBytes: 100, keep: 2 });
    for (let i = 0; i < 10; i++) log.write('stdout', `line ${i}`);
    expect(readdirSync(dir).sort()).toEqual(['old.log', 'old.log.1', 'old.log.2']);
  });

  it('keeps no old file with keep=0', () => {
    const log = open({ maxBytes: 100, keep: 0 });
    for (let i = 0; i < 20; i++) log.write('stdout', `line ${i}`);
    expect(readdirSync(join(dir, 'logs'))).toEqual(['app.log']);
    expect(lines(log.file).at(-1)).toContain('line 19');
  });
});

describe('failures', () => {
  it('throws WSGIKIT_LOG_UNWRITABLE naming the path and the fix when the folder cannot be made', () => {
    writeFileSync(join(dir, 'blocker'), '');
    const file = join(dir, 'blocker', 'logs', 'app.log');
    let thrown: unknown;
    try {
      AppLog.open({ file, maxBytes: 1000, keep: 1 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WsgikitError);
    const error = thrown as WsgikitError;
    expect(error.code).toBe('WSGIKIT_LOG_UNWRITABLE');
    expect(error.message).toContain(file);
    expect(error.message).toContain(`mkdir -p ${join(dir, 'blocker', 'logs')} && chmod 700`);
  });

  it.skipIf(process.getuid?.() === 0)('throws WSGIKIT_LOG_UNWRITABLE for a folder the user may not write', async () => {
    const { chmodSync, mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'locked'), { mode: 0o500 });
    chmodSync(join(dir, 'locked'), 0o500);
    expect(() => AppLog.open({ file: join(dir, 'locked', 'logs', 'app.log'), maxBytes: 1000, keep: 1 })).toThrow(
      /may not create or write it.*mkdir -p/,
    );
  });

  it('recreates a deleted file, and a deleted folder', () => {
    const log = open();
    log.write('stdout', 'before');
    unlinkSync(log.file);
    log.write('stdout', 'after delete');
    expect(lines(log.file)).toHaveLength(1);
    expect(lines(log.file)[0]).toContain('after delete');
    rmSync(join(dir, 'logs'), { recursive: true });
    log.write('stdout', 'after rm -r');
    expect(lines(log.file)[0]).toContain('after rm -r');
    expect(log.failures).toBe(0);
  });

  it('never throws from write once open: counts and reports the failure, then recovers', () => {
    const errors: Error[] = [];
    const echoed: string[] = [];
    const log = open({ onError: (error) => errors.push(error), echo: (line) => echoed.push(line) });
    rmSync(join(dir, 'logs'), { recursive: true });
    writeFileSync(join(dir, 'logs'), 'not a folder');
    expect(() => log.write('stdout', 'lost')).not.toThrow();
    expect(() => log.incident('also lost')).not.toThrow();
    expect(log.failures).toBe(2);
    expect(errors).toHaveLength(2);
    expect(echoed).toHaveLength(2);
    unlinkSync(join(dir, 'logs'));
    log.write('stdout', 'back');
    expect(lines(log.file)).toHaveLength(1);
    expect(log.failures).toBe(2);
  });

  it('ignores writes after close', () => {
    const log = open();
    log.close();
    expect(() => log.write('stdout', 'late')).not.toThrow();
    expect(readFileSync(log.file, 'utf8')).toBe('');
  });

  it('refuses nonsense sizes', () => {
    expect(() => open({ maxBytes: 0 })).toThrow(expect.objectContaining({ code: 'WSGIKIT_USAGE' }));
    expect(() => open({ keep: -1 })).toThrow(expect.objectContaining({ code: 'WSGIKIT_USAGE' }));
  });
});

describe('a log kept in the server error log', () => {
  it("leads every line with the app, keeps the entry's form, never rotates or closes the descriptor", () => {
    const file = join(dir, 'stderr.txt');
    const fd = openSync(file, 'a');
    const log = AppLog.toServerLog({ file: join(dir, 'never', 'app.log'), maxBytes: 10, keep: 1 }, '/srv/a.wsgi', fd);
    expect(log.inServerLog).toBe(true);
    log.write('1 stdout', 'one\ntwo');
    const id = log.incident('boom', 'Traceback\n  line');
    log.close();
    writeSync(fd, 'after close\n'); // still open: it is the server's
    closeSync(fd);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines.slice(0, 5).every((l) => /^wsgikit \/srv\/a\.wsgi: \d{4}-\d\d-\d\dT[\d:.]+Z \[/.test(l))).toBe(true);
    expect(lines[0]).toMatch(/\[1 stdout\] one$/);
    expect(lines[1]).toMatch(/\[1 stdout\] two$/);
    expect(lines[2]).toContain(`[wsgikit] incident ${id}: boom`);
    expect(lines[4]).toMatch(/\[wsgikit\] {5,}line$/);
    expect(lines[5]).toBe('after close');
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });
});

describe('defaultLogFile', () => {
  it('is stable, under home/.wsgikit/logs, and named after the app', () => {
    const file = defaultLogFile('/home/ann/public_html/blog/app.wsgi', '/home/ann');
    expect(file).toBe(defaultLogFile('/home/ann/public_html/blog/../blog/app.wsgi', '/home/ann/'));
    expect(file).toMatch(/^\/home\/ann\/\.wsgikit\/logs\/public_html_blog_app-[0-9a-f]{8}\.log$/);
    expect(isUnder(file, '/home/ann/.wsgikit')).toBe(true);
    expect(isUnder(file, '/home/ann/public_html')).toBe(false);
  });

  it('tells apart apps whose slugs would collide, and drops unsafe characters', () => {
    const one = defaultLogFile('/home/ann/a/b_c.wsgi', '/home/ann');
    const two = defaultLogFile('/home/ann/a_b/c.wsgi', '/home/ann');
    expect(one).not.toBe(two);
    const odd = defaultLogFile('/home/ann/my site/$(rm -rf)/ünï.wsgi', '/home/ann');
    expect(odd).toMatch(/^\/home\/ann\/\.wsgikit\/logs\/[A-Za-z0-9._-]+\.log$/);
  });

  it('uses the absolute path for an app outside home, still logging under home', () => {
    const file = defaultLogFile('/srv/www/app.wsgi', '/home/ann');
    expect(file).toMatch(/^\/home\/ann\/\.wsgikit\/logs\/srv_www_app-[0-9a-f]{8}\.log$/);
  });
});

describe('isUnder', () => {
  it('counts the folder itself and its children, not siblings with a common prefix', () => {
    expect(isUnder('/var/www', '/var/www')).toBe(true);
    expect(isUnder('/var/www/html/x.log', '/var/www/')).toBe(true);
    expect(isUnder('/var/www2/x.log', '/var/www')).toBe(false);
    expect(isUnder('/var/www/../x.log', '/var/www')).toBe(false);
    expect(isUnder('/var', '/var/www')).toBe(false);
  });
});
