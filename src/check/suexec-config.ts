// Which suEXEC the host's Apache runs, and where it lets programs run. Apache execs the path it
// was built with (/usr/lib/apache2/suexec on Debian), which is an alternative: the pristine
// binary has AP_DOC_ROOT and AP_USERDIR_SUFFIX compiled in (`suexec -V`, as root or Apache's
// group, prints them; Debian's are /var/www and public_html), while apache2-suexec-custom reads
// them on every run from SUEXEC_CONFIG_DIR/USER, USER being the user Apache runs as: the first
// line is the document root, the second the userdir suffix, and a line that starts with "#" turns
// that kind of request off. Debian ships that file with public_html/cgi-bin as the suffix, so a
// .wsgi in ~user/public_html passes pristine's check and fails the custom one's.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SAFE_PATH } from '../app/python.js';

/** Where Debian's Apache execs suEXEC (its compiled-in SUEXEC_BIN). */
export const SUEXEC_BIN = '/usr/lib/apache2/suexec';
/** apache2-suexec-custom's SUEXEC_CONFIG_DIR on Debian. */
export const CUSTOM_CONFIG_DIR = '/etc/apache2/suexec';
/** Debian's pristine build: AP_DOC_ROOT and AP_USERDIR_SUFFIX when `suexec -V` cannot be run. */
export const PRISTINE_DOC_ROOT = '/var/www';
export const PRISTINE_USERDIR_SUFFIX = 'public_html';
/** Debian's AP_UID_MIN, AP_GID_MIN and AP_SAFE_PATH (both kinds), when `suexec -V` cannot be run. */
export const DEBIAN_LIMITS: SuexecLimits = {
  uidMin: 100,
  gidMin: 100,
  safePath: SAFE_PATH,
  limitsSource: "Debian's build",
};

/** What suEXEC compiles in besides its folders: who may run, and the only PATH programs get. */
export interface SuexecLimits {
  /** AP_UID_MIN, AP_GID_MIN: lower ids (and 0) are refused. */
  uidMin: number;
  gidMin: number;
  /** AP_SAFE_PATH: the PATH a program runs with, so the only places `#!/usr/bin/env NAME` looks. */
  safePath: string[];
  /** "suexec -V" or Debian's build. */
  limitsSource: string;
}

export interface SuexecConfig extends SuexecLimits {
  kind: 'pristine' | 'custom';
  /** The binary Apache runs, every symlink resolved. */
  binary: string;
  /** Programs under this folder may run (virtual hosts with SuexecUserGroup); null: refused. */
  docroot: string | null;
  /** Programs under ~user/SUFFIX may run (userdir requests); null: refused. */
  userdirSuffix: string | null;
  /** Where the two values come from, for the findings: "suexec -V", a config file, or a default. */
  source: string;
}

export interface SuexecLookup {
  /** The suEXEC path Apache execs; default SUEXEC_BIN. */
  binary?: string;
  /** apache2-suexec-custom's config file; default CUSTOM_CONFIG_DIR (or -V's) / apacheUser. */
  config?: string;
  /** The user Apache runs as, whose config file the custom suEXEC reads. */
  apacheUser?: string;
  /** `BIN -V` output, or null when it cannot be run (only root and Apache's group may). */
  versionOf?: (binary: string) => string | null;
}

/** The suEXEC Apache would run and its two folders, or null when there is none. */
export function readSuexecConfig(lookup: SuexecLookup = {}): SuexecConfig | null {
  const given = lookup.binary ?? SUEXEC_BIN;
  let binary: string;
  try {
    binary = fs.realpathSync(given);
  } catch {
    return null;
  }
  const version = (lookup.versionOf ?? runVersion)(binary);
  const defines = version === null ? new Map<string, string>() : parseDefines(version);
  const custom = defines.has('SUEXEC_CONFIG_DIR') || (version === null && /suexec-custom$/.test(binary));
  const limits = limitsOf(defines, binary);
  if (!custom) {
    const docroot = defines.get('AP_DOC_ROOT');
    const suffix = defines.get('AP_USERDIR_SUFFIX');
    return {
      kind: 'pristine',
      binary,
      ...limits,
      docroot: docroot ?? PRISTINE_DOC_ROOT,
      userdirSuffix: suffix ?? PRISTINE_USERDIR_SUFFIX,
      source:
        docroot !== undefined && suffix !== undefined
          ? `${binary} -V`
          : `Debian's pristine suEXEC (${binary} -V, as root, shows the values it was built with)`,
    };
  }
  const dir = defines.get('SUEXEC_CONFIG_DIR') ?? CUSTOM_CONFIG_DIR;
  const config = lookup.config ?? path.join(dir, lookup.apacheUser ?? 'www-data');
  let text: string;
  try {
    text = fs.readFileSync(config, 'utf8');
  } catch {
    // The custom suEXEC aborts without its file: nothing runs through it.
    return { kind: 'custom', binary, ...limits, docroot: null, userdirSuffix: null, source: `${config} (missing)` };
  }
  return { kind: 'custom', binary, ...limits, ...parseCustomConfig(text), source: config };
}

/** The limits `suexec -V` printed, each missing one Debian's. */
function limitsOf(defines: Map<string, string>, binary: string): SuexecLimits {
  const id = (name: string, fallback: number) => {
    const value = defines.get(name);
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : fallback;
  };
  const path = defines.get('AP_SAFE_PATH');
  const all = defines.has('AP_UID_MIN') && defines.has('AP_GID_MIN') && path !== undefined;
  return {
    uidMin: id('AP_UID_MIN', DEBIAN_LIMITS.uidMin),
    gidMin: id('AP_GID_MIN', DEBIAN_LIMITS.gidMin),
    safePath: path ? path.split(':').filter(Boolean) : DEBIAN_LIMITS.safePath,
    limitsSource: all ? `${binary} -V` : DEBIAN_LIMITS.limitsSource,
  };
}

/** apache2-suexec-custom's file: line 1 the document root, line 2 the userdir suffix; "#" turns one off. */
export function parseCustomConfig(text: string): { docroot: string | null; userdirSuffix: string | null } {
  const [first = '', second = ''] = text.split('\n');
  const value = (line: string) => {
    const v = line.replace(/\r$/, '');
    return v === '' || v.startsWith('#') ? null : v;
  };
  return { docroot: value(first), userdirSuffix: value(second) };
}

/** `-D NAME=value` and `-D NAME="value"` lines of `suexec -V`. */
export function parseDefines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^\s*-D\s+([A-Z_]+)=(?:"([^"]*)"|(\S*))/gm)) out.set(m[1]!, m[2] ?? m[3] ?? '');
  return out;
}

function runVersion(binary: string): string | null {
  // suexec -V prints to stderr; only root and Apache's group may run it.
  const run = spawnSync(binary, ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  const text = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  return text.includes('-D ') ? text : null;
}
