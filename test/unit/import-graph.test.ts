// Dependencies between the folders of src/ point one way: the folder-level import graph has no
// cycle, and check/ (wsgi-check's rules) is used only by the commands in cli/, never by code that
// serves requests. Computed from the files' import lines, type-only imports included: a type
// shared both ways ties two folders as firmly as a call does. Also: the benchmark and the soak
// script, which run outside vitest, reach no module that imports it; and classes keep one
// private-member style, TypeScript's `private` (no `#name` members).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(REPO, 'src/');

/** Who may import check/: only the commands. */
const CHECK_IMPORTERS = new Set(['cli']);

/** "from './x.js'", "import('./x.js')" and "import './x.js'": the relative ones. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The folder of a path under src/, "." for src/ itself. */
function folderOf(path: string): string {
  return relative(SRC, dirname(path)).split('/')[0] || '.';
}

type Edges = Map<string, Map<string, string[]>>;

/** folder → imported folder → the import lines that make the edge. */
function folderImports(files: ReadonlyArray<{ path: string; text: string }>): Edges {
  const edges: Edges = new Map();
  for (const { path, text } of files) {
    const from = folderOf(path);
    for (const match of text.matchAll(SPECIFIER)) {
      const to = folderOf(normalize(join(dirname(path), match[1]!)));
      if (to === from) continue;
      const targets = edges.get(from) ?? new Map<string, string[]>();
      edges.set(from, targets);
      targets.set(to, [...(targets.get(to) ?? []), `${relative(SRC, path)} imports ${match[1]}`]);
    }
  }
  return edges;
}

/** One cycle as a path of folders (first = last), or null. */
function findCycle(edges: Edges): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (folder: string): string[] | null => {
    if (state.get(folder) === 'done') return null;
    if (state.get(folder) === 'open') return [...stack.slice(stack.indexOf(folder)), folder];
    state.set(folder, 'open');
    stack.push(folder);
    for (const next of (edges.get(folder) ?? new Map()).keys()) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(folder, 'done');
    return null;
  };
  for (const folder of [...edges.keys()].sort()) {
    const cycle = visit(folder);
    if (cycle) return cycle;
  }
  return null;
}

function describeCycle(edges: Edges, cycle: string[]): string {
  return cycle
    .slice(1)
    .map((to, i) => `${cycle[i]} -> ${to}: ${edges.get(cycle[i]!)!.get(to)!.join(', ')}`)
    .join('\n');
}

const files = sourceFiles(SRC).map((path) => ({ path, text: readFileSync(path, 'utf8') }));
const edges = folderImports(files);

describe('folder imports in src/', () => {
  it('form no cycle', () => {
    const cycle = findCycle(edges);
    expect(cycle && describeCycle(edges, cycle)).toBeNull();
  });

  it('reach check/ only from the commands', () => {
    const offenders = [...edges]
      .filter(([from, targets]) => targets.has('check') && !CHECK_IMPORTERS.has(from))
      .flatMap(([, targets]) => targets.get('check')!);
    expect(offenders).toEqual([]);
  });

  it('are read from every kind of import line (the rule above would pass on an empty graph)', () => {
    const at = (folder: string) => join(SRC, folder, 'x.ts');
    const sample = folderImports([
      { path: at('a'), text: "import type { T } from '../b/t.js';\nconst m = await import('../c/m.js');" },
      { path: at('b'), text: "export { x } from '../a/x.js';" },
      { path: at('c'), text: "import '../d/side.js';\nimport { y } from './y.js';" },
    ]);
    expect([...sample.get('a')!.keys()]).toEqual(['b', 'c']);
    expect([...sample.get('c')!.keys()]).toEqual(['d']);
    expect(findCycle(sample)).toEqual(['a', 'b', 'a']);
    expect(edges.get('cli')?.has('check')).toBe(true);
  });
});

/** The modules a script loads, by relative import, that import vitest. */
function vitestUsers(entry: string): string[] {
  const seen = new Set<string>();
  const users: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    if (/\bfrom\s*['"]vitest['"]/.test(text)) users.push(relative(REPO, file));
    for (const match of text.matchAll(SPECIFIER)) visit(join(dirname(file), match[1]!).replace(/\.js$/, '.ts'));
  };
  visit(join(REPO, entry));
  return users;
}

describe('scripts that run outside vitest', () => {
  it.each(['bench/main.ts', 'test/reliability/soak-run.ts'])('%s loads nothing that imports vitest', (entry) => {
    expect(vitestUsers(entry)).toEqual([]);
  });

  it('would see one that did', () => {
    expect(vitestUsers('test/helpers/server-checks.ts')).toContain('test/helpers/server-checks.ts');
  });
});

describe('private members', () => {
  const HASH_MEMBER = /^\s*(?:(?:static|readonly|async|get|set|override)\s+)*\*?#[A-Za-z_$]|\.#[A-Za-z_$]/m;

  it('are declared with `private`, never as #name', () => {
    const files = ['src', 'test', 'bench'].flatMap((dir) => sourceFiles(join(REPO, dir)));
    const hashed = files.filter((file) => HASH_MEMBER.test(readFileSync(file, 'utf8'))).map((f) => relative(REPO, f));
    expect(hashed).toEqual([]);
  });

  it('would see one', () => {
    expect(HASH_MEMBER.test(['class A {', '  readonly ' + '#x = 1;', '}'].join('\n'))).toBe(true);
    expect(HASH_MEMBER.test('return this.' + '#x;')).toBe(true);
    expect(HASH_MEMBER.test("const css = '.a{color:#fff}';")).toBe(false);
  });
});
