// docs/settings.md against the code: the key tables (names, types, defaults, ranges, units, which
// keys a host may cap or set) must say what the schema in src/app/settings.ts says (SETTING_SPECS,
// HOST_SETTING_SPECS, BUILTIN_DEFAULTS), and the example files and messages shown there must be
// what wsgikit accepts and prints.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUILTIN_DEFAULTS,
  HOST_FILE_KEYS,
  HOST_SETTING_SPECS,
  SETTING_SPECS,
  loadAppSettings,
  loadHostSettings,
  type SettingValues,
} from '../../src/app/settings.js';

const DOC = fs.readFileSync(new URL('../../docs/settings.md', import.meta.url), 'utf8');

/** The markdown table after `<!-- settings-table: NAME -->`: one record per row, by header. */
function table(name: string): Map<string, Record<string, string>> {
  const marker = `<!-- settings-table: ${name} -->`;
  const at = DOC.indexOf(marker);
  if (at === -1) throw new Error(`docs/settings.md has no ${marker}`);
  const lines = DOC.slice(at + marker.length)
    .trimStart()
    .split('\n');
  const rows: string[][] = [];
  for (const line of lines) {
    if (!line.startsWith('|')) break;
    // Split on pipes that are not escaped (`\|` stands for a pipe inside a cell).
    const cells = line
      .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\\\|/g, '|'));
    rows.push(cells);
  }
  const [header, divider, ...body] = rows;
  if (!header || !divider || !/^-+$/.test(divider[0] ?? '')) throw new Error(`${name}: no table after ${marker}`);
  const out = new Map<string, Record<string, string>>();
  for (const cells of body) {
    const record = Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']));
    const key = /^`([^`]+)`$/.exec(record.Key ?? '')?.[1];
    if (key === undefined) throw new Error(`${name}: a row without a \`key\`: ${cells.join(' | ')}`);
    if (out.has(key)) throw new Error(`${name}: ${key} twice`);
    out.set(key, record);
  }
  return out;
}

/** The fenced block after `<!-- e2e: NAME -->`. */
function block(name: string): string {
  const marker = `<!-- e2e: ${name} -->`;
  const at = DOC.indexOf(marker);
  if (at === -1) throw new Error(`docs/settings.md has no ${marker}`);
  const m = /```[^\n]*\n([\s\S]*?)\n```/.exec(DOC.slice(at + marker.length));
  if (!m) throw new Error(`no fenced block after ${marker}`);
  return m[1]!;
}

/** The first `code` of a cell, read as a TOML value. */
function tomlValue(cell: string): unknown {
  const code = /`([^`]*)`/.exec(cell)?.[1];
  if (code === undefined) throw new Error(`no \`value\` in "${cell}"`);
  return parse(`v = ${code}`).v;
}

describe('docs/settings.md: the app settings table', () => {
  const rows = table('app');

  it('lists every key wsgikit accepts, and no other', () => {
    expect([...rows.keys()].sort()).toEqual(Object.keys(SETTING_SPECS).sort());
  });

  for (const [name, spec] of Object.entries(SETTING_SPECS)) {
    it(`${name}: type, default, range and cap as in the code`, () => {
      const row = rows.get(name);
      expect(row, `${name} has a row`).toBeDefined();
      const { Type: type = '', Default: def = '', Range: range = '', Caps: caps = '' } = row!;
      const builtin = BUILTIN_DEFAULTS[spec.ts as keyof SettingValues];

      if (spec.kind === 'number') {
        expect(type).toBe(spec.integer ? 'integer' : 'number');
        const m = /^([\d.]+)–([\d.]+)/.exec(range);
        expect(m, `${name}: range "${range}" reads MIN–MAX`).not.toBeNull();
        expect([Number(m![1]), Number(m![2])]).toEqual([spec.min, spec.max]);
        const unit = range.slice(m![0].length).split(',')[0]!.trim();
        expect(unit).toBe(spec.unit === 'seconds' ? 's' : spec.unit);
        expect(/\b0 = (none|never)\b/.test(range), `${name}: "0 = none" in the range iff 0 means no limit`).toBe(
          spec.zeroIsNone,
        );
        expect(caps).toBe('✓');
        expect(tomlValue(def)).toBe((builtin as number) / spec.scale);
      } else {
        expect(type).toBe(spec.type);
        expect(range).toBe('—');
        expect(caps).toBe('—');
        if (builtin === null) expect(def).toMatch(/^unset\b/);
        else expect(tomlValue(def)).toEqual(builtin);
      }
    });
  }
});

describe('docs/settings.md: who may set what', () => {
  it('names the keys a host may not set in [defaults] and [forced]', () => {
    const refused = Object.values(SETTING_SPECS).filter((spec) => spec.hostRefuses !== null);
    const named = /Every key except ((?:`[a-z_]+`(?:, | and )?)+) may also be given in the host's/.exec(
      DOC.replace(/\s+/g, ' '),
    );
    expect(named, 'the sentence "Every key except `…` may also be given in the host\'s …"').not.toBeNull();
    expect([...named![1]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1])).toEqual(refused.map((spec) => spec.toml));
  });
});

describe('docs/settings.md: the host file', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsgikit-settings-doc-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The doc's host example as a file here (path-free but for the paths it names itself). */
  function hostFile(): string {
    const file = path.join(dir, 'host.toml');
    fs.writeFileSync(file, block('host-example'), { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    return file;
  }

  function appWith(sidecar: string): string {
    const sub = fs.mkdtempSync(path.join(dir, 'app-'));
    const app = path.join(sub, 'app.wsgi');
    fs.writeFileSync(app, 'def application(e, s): pass\n', { mode: 0o644 });
    fs.writeFileSync(`${app}.toml`, sidecar, { mode: 0o644 });
    fs.chmodSync(`${app}.toml`, 0o644);
    return app;
  }

  it('lists every top-level key and table of the host file, and no other', () => {
    expect([...table('host').keys()].sort()).toEqual([...HOST_FILE_KEYS].sort());
  });

  for (const [name, spec] of Object.entries(HOST_SETTING_SPECS)) {
    it(`${name}: type and default as in the code`, () => {
      const { Type: type = '', Default: def = '' } = table('host').get(name) ?? {};
      expect(type).toBe(spec.type);
      if (spec.default === null) expect(def).toMatch(/^unset\b/);
      // A TOML table such as [sendfile_map] is read into a list or map of its pairs: empty by default.
      else if (spec.type === 'table')
        expect([tomlValue(def), [...(spec.default as Iterable<unknown>)]]).toEqual([{}, []]);
      else expect(tomlValue(def)).toEqual(spec.default);
    });
  }

  it('the example host file and app file load, and combine as the page says', () => {
    const host = loadHostSettings(hostFile());
    expect(host.allowedRoots).toEqual(['/home']);
    expect(host.limits.processes).toBe(4);
    const app = appWith(block('sidecar-example'));
    const settings = loadAppSettings(app, host);
    expect(settings.warnings).toEqual([]);
    expect(settings).toMatchObject({
      python: path.join(path.dirname(app), 'venv/bin/python'),
      processes: 4,
      requestTimeout: 30,
      maxBodyBytes: 50 * 1024 * 1024,
      // Forced by the host, and capped though the app never named it ("0 = none" is above every cap).
      cgiDaemon: false,
      memoryLimitMb: 512,
      idleTimeout: 120,
      env: { DJANGO_SETTINGS_MODULE: 'shop.settings', SHOP_MODE: 'production' },
    });
  });

  it('the cap warning shown is the one an app over a [limits] cap gets', () => {
    const file = hostFile();
    const settings = loadAppSettings(appWith('processes = 8\n'), loadHostSettings(file));
    const shown = block('capped-warning').replace(/^\S+ \[wsgikit\] settings: /, '');
    expect(settings.warnings).toEqual([shown.replace('/etc/wsgikit/host.toml', file)]);
    expect(settings.processes).toBe(4);
  });

  it('the error shown for a wrong value is the one wsgikit gives', () => {
    const app = appWith('processes = "4"\n');
    const shown = block('invalid-message').replace('/home/alice/public_html/app.wsgi', app);
    expect(() => loadAppSettings(app, loadHostSettings(hostFile()))).toThrow(shown);
  });
});
