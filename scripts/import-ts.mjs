// Imports a TypeScript module from a script, with no TypeScript runtime: esbuild (a dev
// dependency already) bundles it, dependencies left to node_modules, into a temporary module.
// import.meta.url keeps pointing at the source, so paths relative to it hold.
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** @param {string} entry absolute path of the .ts module; @param {Record<string,string>} [alias] */
export async function importTs(entry, alias = {}) {
  const work = mkdtempSync(join(tmpdir(), 'wsgikit-ts-'));
  const outfile = join(work, 'module.mjs');
  try {
    await build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      alias,
      define: { 'import.meta.url': JSON.stringify(new URL(`file://${entry}`).href) },
      logLevel: 'warning',
    });
    return await import(outfile);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
