// Compiles src/ to dist/ with tsc, then copies the Python bridge beside its TypeScript side
// so that dist/ runs on its own (the bridge is located relative to the module that spawns it).
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
rmSync(join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], {
  stdio: 'inherit',
});
for (const file of readdirSync(join(root, 'src/python-bridge'))) {
  if (file.endsWith('.py')) cpSync(join(root, 'src/python-bridge', file), join(root, 'dist/python-bridge', file));
}
const cli = join(root, 'dist/cli');
if (existsSync(cli)) for (const file of readdirSync(cli)) if (file.endsWith('.js')) chmodSync(join(cli, file), 0o755);
