// npm run bench: runs the TypeScript benchmark (bench/main.ts), which reuses the e2e tests'
// runner-free server helpers (test/helpers/servers.ts).
import { join } from 'node:path';
import { importTs } from './import-ts.mjs';

const root = new URL('..', import.meta.url).pathname;
await importTs(join(root, 'bench/main.ts'));
