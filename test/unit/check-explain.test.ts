// --explain: the variables each Apache layout sends for one URL, repaired by src/environ/repair.ts.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { explainLayouts, formatExplain } from '../../src/check/explain.js';

const root = mkdtempSync(join(tmpdir(), 'check-explain-'));
const docroot = join(root, 'public_html');
mkdirSync(join(docroot, 'blog'), { recursive: true });
const app = join(docroot, 'blog', 'app.wsgi');
writeFileSync(app, '');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const got = (url: string, mount: string | null = null) =>
  Object.fromEntries(
    explainLayouts({ appFile: app, docroot, urlPath: url, mount, stubFile: null }).map((l) => [
      l.layout,
      [l.got?.SCRIPT_NAME ?? null, l.got?.PATH_INFO ?? null, l.rule],
    ]),
  );

describe('explainLayouts', () => {
  it('a URL naming the .wsgi', () => {
    expect(got('/blog/app.wsgi/post/1')).toEqual({
      direct: ['/blog/app.wsgi', '/post/1', 'direct'],
      'action-handler': ['/blog/app.wsgi', '/post/1', 'action-handler'],
      rewrite: ['/blog', '/post/1', 'rewrite-hidden-script'],
    });
  });

  it('a URL under the folder, or a path inside the app, gives the same tail', () => {
    expect(got('/blog/post/1')).toEqual(got('/post/1'));
    expect(got('/blog/post/1').rewrite).toEqual(['/blog', '/post/1', 'rewrite-hidden-script']);
  });

  it('a mount setting wins; a URL outside it is refused with the reason', () => {
    expect(got('/blog/post/1', '/blog').rewrite).toEqual(['/blog', '/post/1', 'mount-setting']);
    expect(got('/post/1', '/other').direct).toEqual([null, null, 'refused']);
  });

  it('prints the explain lines under each layout', () => {
    const text = formatExplain(
      explainLayouts({ appFile: app, docroot, urlPath: '/x?y=1', mount: null, stubFile: null }),
    );
    expect(text).toContain('action-handler: Action handler');
    expect(text).toContain('app gets:     SCRIPT_NAME="/blog" PATH_INFO="/x"  (rule rewrite-hidden-script)');
    expect(text).toMatch(/^ {4}in: /m);
  });

  it('refuses an app outside the docroot', () => {
    expect(() =>
      explainLayouts({ appFile: '/elsewhere/a.wsgi', docroot, urlPath: '/', mount: null, stubFile: null }),
    ).toThrow(/not under the document root/);
  });
});
