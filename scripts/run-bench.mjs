// npm run bench: runs the TypeScript benchmark (bench/main.ts). It reuses the e2e tests' server
// helpers, which import vitest for their failure hooks: outside vitest, a stub stands in.
import { join } from 'node:path';
import { importTs } from './import-ts.mjs';

const root = new URL('..', import.meta.url).pathname;
await importTs(join(root, 'bench/main.ts'), { vitest: join(root, 'bench/vitest-stub.ts') });
