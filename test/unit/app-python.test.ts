import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WsgikitError } from '../../src/errors.js';
import { BUILTIN_PYTHONS, choosePython } from '../../src/app/python.js';

let dir: string;
let app: string;
const noSettings = { python: null };
const noHost = { defaultPython: null };

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-python-'));
  app = path.join(dir, 'site.wsgi');
  writeApp('def application(environ, start_response): pass\n');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeApp(text: string): void {
  fs.writeFileSync(app, text);
}

/** A fake interpreter: an executable script at dir/rel. */
function fakePython(rel: string, mode = 0o755): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(file, mode);
  return file;
}

function pythonError(fn: () => unknown): WsgikitError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(WsgikitError);
    expect((err as WsgikitError).code).toBe('WSGIKIT_PYTHON_NOT_FOUND');
    return err as WsgikitError;
  }
  throw new Error('expected an error');
}

const builtin = BUILTIN_PYTHONS.find((p) => {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
});

describe('choosePython order', () => {
  it('takes the --python override first', () => {
    const override = fakePython('cli/python3');
    const settings = { python: fakePython('settings/python3') };
    fakePython('venv/bin/python');
    const choice = choosePython(app, settings, noHost, override);
    expect(choice).toEqual({ path: override, reason: `--python ${override}` });
  });

  it('takes settings.python over a venv', () => {
    const settings = { python: fakePython('settings/python3') };
    fakePython('venv/bin/python');
    const choice = choosePython(app, settings, noHost);
    expect(choice.path).toBe(settings.python);
    expect(choice.reason).toBe(`settings python = ${settings.python}`);
  });

  it('takes venv/bin/python beside the .wsgi, keeping the symlinked path as is', () => {
    // A real venv's bin/python is a symlink to the base interpreter; the venv only works when
    // started through its own path, so the symlink must not be resolved.
    const base = fakePython('base/python3.12');
    fs.mkdirSync(path.join(dir, 'venv', 'bin'), { recursive: true });
    fs.symlinkSync(base, path.join(dir, 'venv', 'bin', 'python'));
    writeApp('#!/usr/bin/python3\n');
    const choice = choosePython(app, noSettings, { defaultPython: fakePython('host/python3') });
    expect(choice.path).toBe(path.join(dir, 'venv', 'bin', 'python'));
    expect(choice.reason).toBe(`venv beside the app: ${path.join(dir, 'venv', 'bin', 'python')}`);
  });

  it('takes venv/bin/python3 when the venv has no bin/python', () => {
    const venvPython3 = fakePython('venv/bin/python3');
    expect(choosePython(app, noSettings, noHost).path).toBe(venvPython3);
  });

  it('takes .venv/bin/python when there is no venv/', () => {
    const dotVenv = fakePython('.venv/bin/python');
    const choice = choosePython(app, noSettings, noHost);
    expect(choice.path).toBe(dotVenv);
    expect(choice.reason).toContain('venv beside the app');
  });

  it('prefers venv/ over .venv/', () => {
    const venv = fakePython('venv/bin/python');
    fakePython('.venv/bin/python');
    expect(choosePython(app, noSettings, noHost).path).toBe(venv);
  });

  it('takes a Python named directly by the shebang', () => {
    const named = fakePython('opt/bin/python3.12');
    writeApp(`#!${named}\nimport sys\n`);
    const choice = choosePython(app, noSettings, { defaultPython: fakePython('host/python3') });
    expect(choice).toEqual({ path: named, reason: `shebang of site.wsgi: #!${named}` });
  });

  it('looks up `#!/usr/bin/env python3` in the safe path only, not $PATH', () => {
    const onPath = fakePython('path-bin/python3');
    const savedPath = process.env.PATH;
    process.env.PATH = `${path.dirname(onPath)}:${savedPath ?? ''}`;
    try {
      writeApp('#!/usr/bin/env python3\n');
      if (builtin === undefined) {
        expect(pythonError(() => choosePython(app, noSettings, noHost)).message).toContain(
          '/usr/local/bin:/usr/bin:/bin',
        );
        return;
      }
      const choice = choosePython(app, noSettings, noHost);
      expect(choice.path).not.toBe(onPath);
      expect(['/usr/local/bin/python3', '/usr/bin/python3', '/bin/python3']).toContain(choice.path);
      expect(choice.reason).toBe(`shebang of site.wsgi: #!/usr/bin/env python3 (found ${choice.path})`);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('fails when the env shebang names a Python absent from the safe path', () => {
    writeApp('#!/usr/bin/env python2.4\n');
    const err = pythonError(() => choosePython(app, noSettings, noHost));
    expect(err.message).toContain('shebang of site.wsgi: #!/usr/bin/env python2.4');
    expect(err.message).toContain('Fix: change the first line of site.wsgi');
  });

  it('ignores a shebang that names wsgi-cgi or anything not python-like', () => {
    const hostPython = fakePython('host/python3');
    for (const line of [
      '#!/usr/local/bin/wsgi-cgi',
      '#!/bin/sh',
      '#!/usr/bin/env node',
      '#!/usr/bin/env wsgi-cgi',
      '# not a shebang',
    ]) {
      writeApp(`${line}\n`);
      expect(choosePython(app, noSettings, { defaultPython: hostPython }).reason).toBe(`host default ${hostPython}`);
    }
  });

  it('takes the host default when the app names nothing', () => {
    const hostPython = fakePython('host/python3');
    expect(choosePython(app, noSettings, { defaultPython: hostPython })).toEqual({
      path: hostPython,
      reason: `host default ${hostPython}`,
    });
  });

  it('falls back to the built-in default', () => {
    if (builtin === undefined) {
      expect(pythonError(() => choosePython(app, noSettings, noHost)).message).toContain('No Python found');
      return;
    }
    expect(choosePython(app, noSettings, noHost)).toEqual({ path: builtin, reason: `built-in default ${builtin}` });
  });

  it('reads only the first line of a large .wsgi', () => {
    const named = fakePython('opt/bin/python3');
    writeApp(`#!${named}\n` + '# padding\n'.repeat(200_000));
    expect(choosePython(app, noSettings, noHost).path).toBe(named);
  });
});

describe('choosePython errors', () => {
  it('refuses a named Python that is not executable, saying which source named it', () => {
    const notExec = fakePython('settings/python3', 0o644);
    const err = pythonError(() => choosePython(app, { python: notExec }, noHost));
    expect(err.message).toContain(`settings python = ${notExec}`);
    expect(err.message).toContain('is not executable');
    expect(err.message).toContain('Fix: set python in site.wsgi.toml');
    if (builtin !== undefined) expect(err.message).toContain('Found: ');
  });

  it('refuses a missing --python', () => {
    const err = pythonError(() => choosePython(app, noSettings, noHost, path.join(dir, 'nope', 'python')));
    expect(err.message).toContain('does not exist');
    expect(err.message).toContain('--python');
  });

  it('does not skip a broken venv but says how to recreate it', () => {
    fs.mkdirSync(path.join(dir, 'venv', 'bin'), { recursive: true });
    fs.symlinkSync('/usr/bin/python3.0-gone', path.join(dir, 'venv', 'bin', 'python'));
    const err = pythonError(() => choosePython(app, noSettings, { defaultPython: fakePython('host/python3') }));
    expect(err.message).toContain('venv beside the app');
    expect(err.message).toContain('broken symlink (to /usr/bin/python3.0-gone)');
    expect(err.message).toContain(`-m venv ${path.join(dir, 'venv')}`);
  });

  it('refuses a shebang Python that does not exist', () => {
    writeApp('#!/opt/nowhere/python3.11\n');
    const err = pythonError(() => choosePython(app, noSettings, noHost));
    expect(err.message).toContain('shebang of site.wsgi: #!/opt/nowhere/python3.11');
    expect(err.message).toContain('does not exist');
  });

  it('refuses a host default that is not executable', () => {
    const hostPython = fakePython('host/python3', 0o600);
    const err = pythonError(() => choosePython(app, noSettings, { defaultPython: hostPython }));
    expect(err.message).toContain(`host default ${hostPython}`);
    expect(err.message).toContain('default_python');
  });

  it('looks a bare --python name up in the safe path only', () => {
    const err = pythonError(() => choosePython(app, noSettings, noHost, 'python0.1'));
    expect(err.message).toContain('not found in /usr/local/bin:/usr/bin:/bin');
  });
});
