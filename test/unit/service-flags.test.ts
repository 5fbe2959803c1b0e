// The Node options of the long-running wsgi-fcgi live in one constant; the shebang and every
// command in docs/ that starts wsgi-fcgi with `node` must carry them, or hosts following the
// guide run it with V8's default young generation (the memory figure the benchmark checks).
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '../../src/install-paths.js';

const root = new URL('../../', import.meta.url);

describe('the service Node options', () => {
  it('are in the wsgi-fcgi shebang', () => {
    const first = readFileSync(new URL('src/cli/wsgi-fcgi.ts', root), 'utf8').split('\n')[0]!;
    expect(first).toBe(`#!/usr/bin/env -S node ${SERVICE_NODE_FLAGS.join(' ')}`);
  });

  it('are in every docs command that runs wsgi-fcgi.js with node', () => {
    const lines: string[] = [];
    for (const name of readdirSync(new URL('docs/', root))) {
      if (!name.endsWith('.md')) continue;
      for (const line of readFileSync(new URL(`docs/${name}`, root), 'utf8').split('\n')) {
        if (/\bnode\s.*wsgi-fcgi\.js/.test(line)) lines.push(`${name}: ${line}`);
      }
    }
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) expect(line).toContain(`node ${SERVICE_NODE_FLAGS.join(' ')} `);
  });
});
