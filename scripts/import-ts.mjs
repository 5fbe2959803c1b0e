// Imports a TypeScript module from a script, with no TypeScript runtime: esbuild (a dev
// dependency already) bundles it, dependencies left to node_modules, into a temporary module.
// import.meta.url keeps pointing at each module's own source file (the entry's and every module it
// bundles), so paths relative to it hold.
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** esbuild plugin: `import.meta.url` in each TypeScript file becomes that file's own URL. */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: text.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

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
      plugins: [ownImportMetaUrl],
      logLevel: 'warning',
    });
    return await import(outfile);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
