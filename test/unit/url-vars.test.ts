import { describe, expect, it } from 'vitest';
import { urlVarsAgree } from '../../src/environ/url-vars.js';

// Each name servers set, read with its own form: a path, an absolute URL, or a request target.
const FORMS: Array<[string, 'path' | 'url' | 'target']> = [
  ['SCRIPT_URL', 'path'],
  ['SCRIPT_URI', 'url'],
  ['REDIRECT_URL', 'path'],
  ['REDIRECT_SCRIPT_URL', 'path'],
  ['REDIRECT_SCRIPT_URI', 'url'],
  ['REDIRECT_URI', 'target'],
  ['DOCUMENT_URI', 'path'],
];

const SPELLED = { path: '/blog/post/1', url: 'https://example.org/blog/post/1', target: '/blog/post/%31?x=1' };

describe('urlVarsAgree', () => {
  it('agrees with nothing set, and reads each name in its own form', () => {
    expect(urlVarsAgree({}, '/blog', '/post/1')).toBe(true);
    for (const [name, form] of FORMS) {
      for (const [other, value] of Object.entries(SPELLED)) {
        // Spelled in another form than the name's, it does not name the same path; but a request
        // target may be a plain path or an absolute URL (RFC 9112 origin-form, absolute-form).
        const agrees = other === form || form === 'target';
        expect(urlVarsAgree({ [name]: value }, '/blog', '/post/1'), `${name} = ${value}`).toBe(agrees);
      }
      expect(urlVarsAgree({ [name]: SPELLED[form].replace('blog', 'news') }, '/blog', '/post/1')).toBe(false);
    }
  });

  it('reads the variables of a second redirect too', () => {
    const vars = { REDIRECT_URL: '/blog/post/1', REDIRECT_REDIRECT_SCRIPT_URL: '/blog/app.wsgi/post/1' };
    expect(urlVarsAgree(vars, '/blog', '/post/1')).toBe(false);
    expect(urlVarsAgree({ ...vars, REDIRECT_REDIRECT_SCRIPT_URL: '/blog/post/1' }, '/blog', '/post/1')).toBe(true);
  });
});
