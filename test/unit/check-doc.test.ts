// docs/wsgi-check.md against the code: every finding id wsgi-check can report is listed there,
// so a new rule cannot ship without its line in the guide.

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHROOT_CHECKS } from '../../src/app/chroot.js';

const DOC = readFileSync(new URL('../../docs/wsgi-check.md', import.meta.url), 'utf8');
const CHECK_DIR = new URL('../../src/check/', import.meta.url);

/** The ids given to finding() as literals in src/check/, and the chroot ones built from CHROOT_CHECKS. */
function findingIds(): string[] {
  const ids = new Set<string>();
  for (const name of readdirSync(CHECK_DIR).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(new URL(name, CHECK_DIR), 'utf8');
    for (const m of source.matchAll(/finding\(\s*['`]([a-z]+\.[a-z0-9-]+)['`]/g)) ids.add(m[1]!);
  }
  for (const check of CHROOT_CHECKS) ids.add(`chroot.${check}`);
  return [...ids].sort();
}

describe('docs/wsgi-check.md', () => {
  it('lists every finding id', () => {
    const ids = findingIds();
    expect(ids.length).toBeGreaterThan(40);
    expect(ids.filter((id) => !DOC.includes(`\`${id}\``))).toEqual([]);
  });
});
