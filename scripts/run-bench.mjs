// Runs the TypeScript benchmark: bundles bench/main.ts with esbuild (already a dev dependency)
// into a temporary module and imports it.
import { build } from 'esbuild';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const outfile = join(root, 'bench/results/.bench.mjs');
await build({
  entryPoints: [join(root, 'bench/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  define: { 'import.meta.url': JSON.stringify(new URL('../bench/main.ts', import.meta.url).href) },
  logLevel: 'warning',
});
await import(outfile);
