// npm run bench: runs the TypeScript benchmark (bench/main.ts).
import { join } from 'node:path';
import { importTs } from './import-ts.mjs';

await importTs(join(new URL('..', import.meta.url).pathname, 'bench/main.ts'));
