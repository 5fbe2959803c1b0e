import { describe, expect, it } from 'vitest';
import { removeDotSegments } from '../../src/environ/url-path.js';
import { isWsgikitError } from '../../src/errors.js';

describe('removeDotSegments', () => {
  it.each([
    // Dots only inside names: returned as they are.
    ['/app.wsgi/x', '/app.wsgi/x'],
    ['/.hidden/x', '/.hidden/x'],
    ['/a/..b/c.', '/a/..b/c.'],
    ['.hidden', '.hidden'],
    // Dot segments, wherever they stand.
    ['/a/./b', '/a/b'],
    ['/a/.', '/a/'],
    ['/./', '/'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/..', '/a/'],
    ['/a//../b', '/a/b'],
  ])('%j → %j', (path, resolved) => {
    expect(removeDotSegments(path)).toBe(resolved);
  });

  it.each(['/..', '/../x', '/a/../../x'])('%j climbs above the root: a bad request', (path) => {
    let caught: unknown;
    try {
      removeDotSegments(path);
    } catch (error) {
      caught = error;
    }
    expect(isWsgikitError(caught) && caught.code).toBe('WSGIKIT_BAD_REQUEST');
  });
});
