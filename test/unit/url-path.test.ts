import { describe, expect, it } from 'vitest';
import { removeDotSegments } from '../../src/environ/url-path.js';

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
    expect(() => removeDotSegments(path)).toThrow(
      expect.objectContaining({ name: 'WsgikitError', code: 'WSGIKIT_BAD_REQUEST' }),
    );
  });
});
