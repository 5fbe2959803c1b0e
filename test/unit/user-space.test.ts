import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { folderFix, folderProblem, oneShotNote, serverLogNote } from '../../src/app/user-space.js';

const OWNER = { user: 'www-data', group: 'www-data', home: '/var/www' };

describe('folderProblem: can the user make or write a folder', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'wsgikit-space-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));
  const owner = () => ({ ...OWNER, home });

  it('is null when the nearest existing folder may be written, however deep the rest', () => {
    expect(folderProblem(join(home, '.wsgikit', 'logs'), owner, () => true)).toBeNull();
  });

  it('asks about the nearest folder that exists: the home when ~/.wsgikit is missing', () => {
    const asked: string[] = [];
    const problem = folderProblem(join(home, '.wsgikit', 'logs'), owner, (folder) => {
      asked.push(folder);
      return false;
    });
    expect(asked).toEqual([home]);
    expect(problem).toEqual({
      folder: join(home, '.wsgikit', 'logs'),
      reason: `${join(home, '.wsgikit', 'logs')} does not exist and www-data may not create it in ${home}`,
      fix: `sudo install -d -o www-data -g www-data -m 700 ${join(home, '.wsgikit')}`,
    });
  });

  it('names an existing folder that may not be written, and fixes it too', () => {
    mkdirSync(join(home, '.wsgikit', 'logs'), { recursive: true });
    const problem = folderProblem(join(home, '.wsgikit', 'logs'), owner, () => false);
    expect(problem?.reason).toBe(`www-data may not write in ${join(home, '.wsgikit', 'logs')}`);
    // install -d sets owner and mode of folders that exist as well.
    expect(problem?.fix).toBe(
      `sudo install -d -o www-data -g www-data -m 700 ${join(home, '.wsgikit')} ${join(home, '.wsgikit', 'logs')}`,
    );
  });

  it('says so when a file stands where a folder must be', () => {
    writeFileSync(join(home, '.wsgikit'), '');
    expect(folderProblem(join(home, '.wsgikit', 'run'), owner, () => true)?.reason).toBe(
      `${join(home, '.wsgikit')} is not a folder`,
    );
  });

  it('asks the kernel by default (root may write anywhere, so only a non-root run can see a refusal)', () => {
    chmodSync(home, 0o555);
    const problem = folderProblem(join(home, '.wsgikit', 'logs'), owner);
    expect(problem === null).toBe(process.getuid?.() === 0);
  });
});

describe('folderFix', () => {
  it('makes ~/.wsgikit itself for a folder inside it that does not exist', () => {
    expect(folderFix('/nonexistent-home/.wsgikit/run', { ...OWNER, home: '/nonexistent-home' })).toBe(
      'sudo install -d -o www-data -g www-data -m 700 /nonexistent-home/.wsgikit',
    );
  });

  it('makes the folder itself outside ~/.wsgikit, quoting what needs it', () => {
    expect(folderFix("/srv/my logs/it's", OWNER)).toBe(
      `sudo install -d -o www-data -g www-data -m 700 '/srv/my logs/it'\\''s'`,
    );
  });
});

describe('the notes for the owner', () => {
  const problem = { folder: '/var/www/.wsgikit/logs', reason: 'why', fix: 'sudo install -d /var/www/.wsgikit' };
  it('say where the log is meanwhile, why, and the fix', () => {
    expect(serverLogNote(problem)).toBe(
      "This app's log is in the web server's error log for now, because its folder /var/www/.wsgikit/logs " +
        'cannot be made: why. Fix: sudo install -d /var/www/.wsgikit',
    );
    expect(oneShotNote(problem)).toContain('CGI daemon mode is off for now');
    expect(oneShotNote(problem)).toContain('Fix: sudo install -d /var/www/.wsgikit');
  });
});
