// Per-app settings: a TOML sidecar next to the .wsgi (`site.wsgi` → `site.wsgi.toml`), capped by
// the host's own TOML file (default /etc/wsgikit/host.toml). suEXEC strips SetEnv and most of the
// environment, so everything an app needs to say about how it runs is said here.
//
// Layers, later wins: built-in defaults → host [defaults] → sidecar → command-line overrides →
// host [forced]. Then host [limits] lower any numeric value above its cap, with a warning (a cap
// is not an error: the app still runs, just smaller). Every key has a type and a range; a wrong
// one is an error that names the file, the key, what was expected and what was found.
//
// Each key is described once, in SETTINGS (the app's keys) or HOST_KEYS (the host file's own):
// its TOML name, default, range and unit, who may set it, and how a value is read. The defaults,
// the TypeScript types, the validation and the check against docs/settings.md
// (test/unit/settings-doc.test.ts) all come from these two tables.
//
// Units: TOML speaks in MiB and seconds; the TS object holds bytes (maxBodyBytes, logMaxBytes)
// and seconds. HostSettings.defaults / forced / limits are already in TS units.

import process from 'node:process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { WsgikitError, type Advice } from '../errors.js';
import { uidOfUser } from '../os/users.js';
import { checkOwnedFile } from './locate.js';
import { parseAddressRule } from './owner.js';
import { SAFE_PATH, findInSafePath } from './python.js';
import {
  SENDFILE_MODES,
  isSendfileMode,
  sendfileMappingProblem,
  sendfileModeProblem,
  type SendfileMapping,
  type SendfileMode,
} from './sendfile-settings.js';

// ---------------------------------------------------------------------------------------------
// The schema.

const MIB = 1024 * 1024;

/** Reads one value in TOML units and returns it in TS units, or throws WSGIKIT_SETTINGS_INVALID. */
type Convert<T> = (ctx: Ctx, name: string, raw: unknown) => T;

interface BaseSpec<T> {
  /** The key in TOML. */
  toml: string;
  /** How docs/settings.md names the type. */
  type: string;
  /** The built-in value, in TS units. */
  default: T;
  convert: Convert<T>;
}

export interface NumberSpec extends BaseSpec<number> {
  kind: 'number';
  integer: boolean;
  min: number;
  max: number;
  /** TOML value × scale = TS value. */
  scale: number;
  unit: '' | 'seconds' | 'MiB';
  /** 0 means "no limit": for capping, 0 is the largest value of all. */
  zeroIsNone: boolean;
  /** Numbers may be set by the host ([defaults], [forced]) and capped by it ([limits]). */
  hostRefuses: null;
}

export interface OtherSpec<T> extends BaseSpec<T> {
  kind: 'other';
  /** Why the host may not set it in [defaults] or [forced] (with the fix), or null: it may. */
  hostRefuses: Advice | null;
}

/** An app key with a number (range, unit) as its value. The default is given in TOML units. */
function num(
  toml: string,
  tomlDefault: number,
  min: number,
  max: number,
  unit: NumberSpec['unit'],
  opts: { integer?: boolean; scale?: number; zeroIsNone?: boolean } = {},
): NumberSpec {
  const integer = opts.integer ?? true;
  const scale = opts.scale ?? 1;
  const spec: NumberSpec = {
    kind: 'number',
    toml,
    type: integer ? 'integer' : 'number',
    default: tomlDefault * scale,
    integer,
    min,
    max,
    scale,
    unit,
    zeroIsNone: opts.zeroIsNone ?? false,
    hostRefuses: null,
    convert: (ctx, name, raw) => convertNumber(ctx, name, spec, raw),
  };
  return spec;
}

/** An app key of any other type. */
function other<T>(
  toml: string,
  type: string,
  def: T,
  convert: Convert<T>,
  hostRefuses: Advice | null = null,
): OtherSpec<T> {
  return { kind: 'other', toml, type, default: def, convert, hostRefuses };
}

/** The app's keys: in the sidecar, on the command line, and in the host's [defaults] / [forced] / [limits]. */
const SETTINGS = {
  /** Absolute path of the Python to run, or null: choosePython() decides (venv, shebang, host). */
  python: other<string | null>('python', 'string (path)', null, convertPython, {
    problem: `it would outrank the app's own venv.`,
    fix: `use default_python = "/usr/bin/python3.12" at the top of the file`,
  }),
  /** Maximum number of worker processes. */
  processes: num('processes', 5, 1, 64, ''),
  /** Workers kept running even when idle (0..processes). */
  minProcesses: num('min_processes', 0, 0, 64, ''),
  /** Requests that may wait for a free worker; more get a 503. */
  queueSize: num('queue_size', 100, 0, 10_000, ''),
  /** Seconds a request may wait in the queue. */
  queueTimeout: num('queue_timeout', 30, 0, 3600, 'seconds', { integer: false }),
  /** Seconds a request may run before it gets a 504 and its worker is recycled. */
  requestTimeout: num('request_timeout', 60, 1, 86_400, 'seconds', { integer: false }),
  /** Seconds a worker may take to import the app. */
  startupTimeout: num('startup_timeout', 30, 1, 3600, 'seconds', { integer: false }),
  /** Seconds a worker may stay idle before it is stopped. */
  idleTimeout: num('idle_timeout', 300, 1, 86_400, 'seconds', { integer: false }),
  /** Recycle a worker after this many requests; 0 = never. */
  maxRequests: num('max_requests', 0, 0, 1_000_000_000, '', { zeroIsNone: true }),
  /** Recycle a worker after a request that leaves its RSS above this many MiB; 0 = no limit. */
  memoryLimitMb: num('memory_limit_mb', 0, 0, 1_048_576, 'MiB', { zeroIsNone: true }),
  /** Seconds of CPU time per worker; 0 = no limit. */
  cpuLimit: num('cpu_limit', 0, 0, 31_536_000, 'seconds', { zeroIsNone: true }),
  /** Request body limit in bytes (max_body_mb MiB in TOML); 0 = no limit. */
  maxBodyBytes: num('max_body_mb', 100, 0, 1_048_576, 'MiB', { integer: false, scale: MIB, zeroIsNone: true }),
  /** Folder of the app's own logs; null: the logs module's default (~/.wsgikit/logs). */
  logDir: other<string | null>('log_dir', 'string (path)', null, convertLogDir),
  /** Rotate the app's log at this many bytes (log_max_mb MiB in TOML). */
  logMaxBytes: num('log_max_mb', 10, 0.01, 10_240, 'MiB', { integer: false, scale: MIB }),
  /** Rotated log files kept. */
  logKeep: num('log_keep', 3, 0, 1000, ''),
  /** "owner": tracebacks shown only to the site owner; "never": to nobody. */
  tracebacks: other<'owner' | 'never'>('tracebacks', 'string', 'owner', oneOf(['owner', 'never'])),
  /** Client addresses (IPv4, IPv6, CIDR) that count as the owner. */
  ownerAddresses: other<string[]>('owner_addresses', 'array of strings', [], convertAddresses),
  /** Lower-case hex SHA-256 of the owner's secret token (sent as the wsgikit_owner cookie). */
  ownerTokenSha256: other<string | null>('owner_token_sha256', 'string', null, convertToken),
  /** Fixed SCRIPT_NAME ("" = site root); null: worked out per request. */
  mount: other<string | null>('mount', 'string', null, convertMount),
  /** Environment variables for the app. */
  env: other<Record<string, string>>('env', 'table', {}, convertEnv),
  /** Seconds between mtime checks of the .wsgi and restart.txt; 0 = on every request. */
  reloadCheckInterval: num('reload_check_interval', 1, 0, 3600, 'seconds', { integer: false }),
  /**
   * CGI only: hand requests to the user's daemon, started on demand (true), or run one Python
   * process per request (false). Hosts that forbid background processes force it off.
   */
  cgiDaemon: other('cgi_daemon', 'boolean', true, convertBoolean),
  /**
   * Write, per request, what the server sent, which SCRIPT_NAME/PATH_INFO rule fired and what
   * the app got, into the app's log: for finding out why links come out wrong on a new host.
   */
  explain: other('explain', 'boolean', false, convertBoolean),
  /**
   * wsgi-fcgi with --app: import the app and start its workers when the service starts, as
   * --preload does, so the first visitor does not wait for the import.
   */
  preload: other('preload', 'boolean', false, convertBoolean),
};

/** The host file's own top-level keys (besides its [defaults], [forced] and [limits] tables). */
const HOST_KEYS = {
  /** Absolute folders apps must lie in; empty = the owner's home. */
  allowedRoots: other<string[]>('allowed_roots', 'array of absolute paths', [], convertRoots),
  /** Python used when neither the app's settings, a venv nor its shebang names one. */
  defaultPython: other<string | null>('default_python', 'absolute path', null, convertAbsolute),
  /** When set, an app's log_dir must lie inside this folder. */
  logRoot: other<string | null>('log_root', 'absolute path', null, convertAbsolute),
  /** Absolute folder of the host's error page templates (src/pages/host-pages.ts), or null. */
  errorPages: other<string | null>('error_pages', 'absolute path', null, convertAbsolute),
  /** Strangers get the host's page in place of an app's own 4xx/5xx body. */
  overrideAppErrors: other('override_app_errors', 'boolean', false, convertBoolean),
  /**
   * Every worker runs chrooted in this folder: an absolute pattern where %u is the user's name,
   * %U the uid and %% a percent sign (src/app/chroot.ts). null: no chroot.
   */
  chroot: other<string | null>('chroot', 'absolute path pattern', null, convertChroot),
  /** Who sends a file an app names in X-Sendfile: wsgikit itself, or the web server by this header. */
  sendfile: other<SendfileMode>('sendfile', 'string', 'none', convertSendfile),
  /** Filesystem prefix → nginx internal URI prefix, for X-Accel-Redirect; longest `from` first. */
  sendfileMap: other<SendfileMapping[]>('sendfile_map', 'table', [], convertSendfileMap),
  /**
   * [trusted_owners]: runner uid → other owners' uids whose files it may run (src/app/locate.ts).
   * Off (empty) by default: a runner runs only its own and root's files.
   */
  trustedOwners: other<Map<number, number[]>>('trusted_owners', 'table', new Map(), convertTrustedOwners),
};

type AppTable = typeof SETTINGS;
type HostTable = typeof HOST_KEYS;

/** The settings proper, without the bookkeeping: one field per key of SETTINGS. */
export type SettingValues = { -readonly [K in keyof AppTable]: AppTable[K]['default'] };
export type NumericSetting = { [K in keyof AppTable]: AppTable[K] extends NumberSpec ? K : never }[keyof AppTable];

export interface AppSettings extends SettingValues {
  /** What was lowered to a host cap or set by the host, one line each. */
  warnings: string[];
  /** The sidecar path, if one was read. */
  source: string | null;
}

/** The host file's top-level values: one field per key of HOST_KEYS. */
export type HostValues = { -readonly [K in keyof HostTable]: HostTable[K]['default'] };

export interface HostSettings extends HostValues {
  /** Replace the built-in defaults (TS units). */
  defaults: Partial<SettingValues>;
  /** Values an app cannot change (TS units). An app that asks otherwise gets a warning. */
  forced: Partial<SettingValues>;
  /** Maxima for numeric settings (TS units). */
  limits: Partial<Record<NumericSetting, number>>;
  /** The host file, if one was read. */
  source: string | null;
}

/** The layered tables of the host file: each holds app keys. */
const HOST_TABLES = ['defaults', 'forced', 'limits'] as const;

export type AppSpec = (NumberSpec | OtherSpec<unknown>) & { ts: keyof SettingValues };
export type HostSpec = OtherSpec<unknown> & { ts: keyof HostValues };

function byToml<K extends string, S extends { toml: string }>(table: Record<K, S>): Record<string, S & { ts: K }> {
  return Object.fromEntries((Object.entries(table) as [K, S][]).map(([ts, spec]) => [spec.toml, { ...spec, ts }]));
}

/** The app keys by TOML name (docs/settings.md is checked against it). */
export const SETTING_SPECS: Readonly<Record<string, Readonly<AppSpec>>> = byToml(SETTINGS) as Record<string, AppSpec>;
/** The host file's own keys by TOML name. */
export const HOST_SETTING_SPECS: Readonly<Record<string, Readonly<HostSpec>>> = byToml(HOST_KEYS) as Record<
  string,
  HostSpec
>;
/** The top-level keys and tables of the host file. */
export const HOST_FILE_KEYS: readonly string[] = [...HOST_TABLES, ...Object.keys(HOST_SETTING_SPECS)];

/** A fresh copy of a default, so that no two settings objects share an array or table. */
function fresh<T>(value: T): T {
  if (value instanceof Map) return new Map(value) as T;
  if (Array.isArray(value)) return [...value] as T;
  if (typeof value === 'object' && value !== null) return { ...value };
  return value;
}

function defaultsOf<K extends string>(table: Record<K, { default: unknown }>): Record<K, unknown> {
  return Object.fromEntries(
    (Object.entries(table) as [K, { default: unknown }][]).map(([k, s]) => [k, fresh(s.default)]),
  ) as Record<K, unknown>;
}

export const BUILTIN_DEFAULTS: Readonly<SettingValues> = Object.freeze(defaultsOf(SETTINGS) as SettingValues);

export const DEFAULT_HOST_SETTINGS_FILE = '/etc/wsgikit/host.toml';

export function sidecarPath(appFile: string): string {
  return `${appFile}.toml`;
}

export function emptyHostSettings(): HostSettings {
  return { ...(defaultsOf(HOST_KEYS) as HostValues), defaults: {}, forced: {}, limits: {}, source: null };
}

/** The owners besides itself and root whose files `runnerUid` may run (host.toml [trusted_owners]). */
export function trustedOwnersFor(host: HostSettings, runnerUid: number): ReadonlySet<number> {
  return new Set(host.trustedOwners.get(runnerUid) ?? []);
}

const TOML_NAME = new Map<keyof SettingValues, string>(
  Object.values(SETTING_SPECS).map((spec): [keyof SettingValues, string] => [spec.ts, spec.toml]),
);

// ---------------------------------------------------------------------------------------------
// Host settings.

export function loadHostSettings(file: string = DEFAULT_HOST_SETTINGS_FILE): HostSettings {
  const text = readIfExists(file, false);
  const host = emptyHostSettings();
  if (text === null) return host;
  host.source = file;
  const doc = parseToml(file, text);
  const ctx: Ctx = { file, text, baseDir: null, section: '' };

  for (const [key, value] of Object.entries(doc)) {
    if (key === 'defaults' || key === 'forced') {
      const table = expectTable({ ...ctx }, key, value);
      for (const [name, raw] of Object.entries(table)) {
        const sctx = { ...ctx, section: key };
        const spec = SETTING_SPECS[name];
        if (spec === undefined) throw unknownKey(sctx, name);
        if (spec.hostRefuses !== null) {
          const { problem, fix } = spec.hostRefuses;
          throw invalid(sctx, name, `${name} cannot be set by the host in [${key}]: ${problem}`, fix);
        }
        const target = key === 'defaults' ? host.defaults : host.forced;
        Object.assign(target, { [spec.ts]: spec.convert(sctx, name, raw) });
      }
    } else if (key === 'limits') {
      const table = expectTable(ctx, key, value);
      const sctx = { ...ctx, section: 'limits' };
      for (const [name, raw] of Object.entries(table)) {
        const spec = SETTING_SPECS[name];
        if (spec === undefined) throw unknownKey(sctx, name);
        if (spec.kind !== 'number') {
          throw invalid(
            sctx,
            name,
            `[limits] holds maxima for numeric settings only; ${name} is not numeric.`,
            `set it in [forced] instead`,
          );
        }
        const limit = convertNumber(sctx, name, spec, raw);
        // A cap of "no limit" is no cap.
        if (!(spec.zeroIsNone && limit === 0)) host.limits[spec.ts as NumericSetting] = limit;
      }
    } else {
      const spec = HOST_SETTING_SPECS[key];
      if (spec === undefined) throw unknownKey(ctx, key, [...HOST_FILE_KEYS]);
      Object.assign(host, { [spec.ts]: spec.convert(ctx, key, value) });
    }
  }
  const unmapped = sendfileModeProblem(host.sendfile, host.sendfileMap);
  if (unmapped !== null) throw invalid(ctx, 'sendfile', unmapped.problem, unmapped.fix);

  // The host's own values must fit its own caps, or every app would get a warning it cannot fix.
  for (const layer of ['defaults', 'forced'] as const) {
    for (const [ts, limit] of Object.entries(host.limits) as [NumericSetting, number][]) {
      const value = host[layer][ts];
      if (typeof value === 'number' && exceeds(specOf(ts), value, limit)) {
        const name = tomlName(ts);
        throw invalid(
          { ...ctx, section: layer },
          name,
          `[${layer}] ${name} = ${show(specOf(ts), value)} is above [limits] ${name} = ${show(specOf(ts), limit)}.`,
          `lower one or raise the other`,
        );
      }
    }
  }
  if (host.logRoot !== null) {
    for (const layer of ['defaults', 'forced'] as const) {
      const dir = host[layer].logDir;
      if (typeof dir === 'string' && !isInsideOrSame(dir, host.logRoot)) {
        throw invalid(
          { ...ctx, section: layer },
          'log_dir',
          `${dir} is outside log_root ${host.logRoot}.`,
          `put it under ${host.logRoot}`,
        );
      }
    }
  }
  return host;
}

/**
 * Why a host's chroot value is not a usable pattern, or null when it is: an absolute folder with
 * no "." or ".." part, whose only % escapes are %u (user name), %U (uid) and %%.
 */
export function chrootPatternProblem(value: unknown): string | null {
  if (typeof value !== 'string' || !isAbsolute(value)) {
    return 'expected an absolute folder pattern (%u = the user name, %U = the uid)';
  }
  for (const [escape, letter] of value.matchAll(/%(.?)/gs)) {
    if (letter !== 'u' && letter !== 'U' && letter !== '%') {
      return `${JSON.stringify(escape)} is not a known escape: only %u, %U and %% are`;
    }
  }
  if (value.split('/').some((part) => part === '.' || part === '..')) return 'it must not contain "." or ".." parts';
  if (resolve(value) === '/') return 'the root folder "/" is no chroot';
  return null;
}

// ---------------------------------------------------------------------------------------------
// App settings.

export function loadAppSettings(
  appFile: string,
  host: HostSettings,
  overrides: Partial<AppSettings> = {},
  /** Whose sidecar it must be (root-owned is accepted too); default: this process's uid. wsgi-check --as-user. */
  expectedUid?: number,
): AppSettings {
  const values: SettingValues = { ...BUILTIN_DEFAULTS, ...host.defaults };
  values.env = { ...BUILTIN_DEFAULTS.env, ...(host.defaults.env ?? {}) };
  const warnings: string[] = [];
  /** Keys the app itself chose (sidecar or command line), and where: warnings name that place. */
  const chosenBy = new Map<keyof SettingValues, string>();

  // 1. The sidecar.
  const sidecar = sidecarPath(resolve(appFile));
  const text = readIfExists(sidecar, true, expectedUid, host);
  if (text !== null) {
    const ctx: Ctx = { file: sidecar, text, baseDir: dirname(sidecar), section: '' };
    const doc = parseToml(sidecar, text);
    for (const [name, raw] of Object.entries(doc)) {
      const spec = SETTING_SPECS[name];
      if (spec === undefined) throw unknownKey(ctx, name);
      const value = spec.convert(ctx, name, raw);
      if (spec.ts === 'env') values.env = { ...values.env, ...(value as Record<string, string>) };
      else Object.assign(values, { [spec.ts]: value });
      chosenBy.set(spec.ts, basename(sidecar));
    }
  }

  // 2. Command-line flags: the same checks, in the same (TOML) units.
  const cli: Ctx = { file: 'the command line', text: null, baseDir: process.cwd(), section: '' };
  for (const [ts, value] of Object.entries(overrides) as [keyof AppSettings, unknown][]) {
    if (value === undefined || value === null || ts === 'warnings' || ts === 'source') continue;
    const name = TOML_NAME.get(ts);
    const spec = name === undefined ? undefined : SETTING_SPECS[name];
    if (name === undefined || spec === undefined) throw unknownKey(cli, ts);
    const raw = spec.kind === 'number' && typeof value === 'number' ? value / spec.scale : value;
    const converted = spec.convert(cli, name, raw);
    if (spec.ts === 'env') values.env = { ...values.env, ...(converted as Record<string, string>) };
    else Object.assign(values, { [spec.ts]: converted });
    chosenBy.set(spec.ts, 'the command line');
  }

  // 3. What the host forces.
  for (const [ts, forced] of Object.entries(host.forced) as [keyof SettingValues, unknown][]) {
    if (ts === 'env') {
      const forcedEnv = forced as Record<string, string>;
      for (const [k, v] of Object.entries(forcedEnv)) {
        if (chosenBy.has('env') && k in values.env && values.env[k] !== v) {
          warnings.push(
            `${chosenBy.get('env')}: env.${k} is set by the host to ${JSON.stringify(v)}; your value is ignored`,
          );
        }
      }
      values.env = { ...values.env, ...forcedEnv };
      continue;
    }
    const chooser = chosenBy.get(ts);
    if (chooser !== undefined && !sameValue(values[ts], forced)) {
      const name = tomlName(ts);
      const spec = SETTING_SPECS[name];
      const shown = (v: unknown): string =>
        spec?.kind === 'number' && typeof v === 'number' ? show(spec, v) : JSON.stringify(v);
      warnings.push(
        `${chooser}: ${name} = ${shown(values[ts])} is ignored: the host sets ${name} = ${shown(forced)}${hostWhere(host, 'forced')}`,
      );
    }
    Object.assign(values, { [ts]: forced });
    chosenBy.delete(ts);
  }

  // 4. Host caps.
  let processesCapped = false;
  for (const [ts, limit] of Object.entries(host.limits) as [NumericSetting, number][]) {
    const spec = specOf(ts);
    const value = values[ts];
    if (!exceeds(spec, value, limit)) continue;
    const name = tomlName(ts);
    const chooser = chosenBy.get(ts);
    // A default the app never chose is capped quietly: the user cannot act on a warning about it.
    if (chooser !== undefined) {
      warnings.push(
        `${chooser}: ${name} = ${show(spec, value)} is above the host's limit; using ${show(spec, limit)}${hostWhere(host, 'limits')}`,
      );
    }
    values[ts] = limit;
    if (ts === 'processes') processesCapped = true;
  }

  // 5. Between keys.
  if (values.minProcesses > values.processes) {
    if (chosenBy.has('minProcesses') && !processesCapped) {
      throw invalid(
        chosenBy.get('minProcesses') === 'the command line' ? cli : appCtx(sidecar, text),
        'min_processes',
        `min_processes = ${values.minProcesses} is above processes = ${values.processes}.`,
        `lower min_processes to at most ${values.processes}, or raise processes`,
      );
    }
    warnings.push(
      `min_processes = ${values.minProcesses} is above processes = ${values.processes}; using ${values.processes}`,
    );
    values.minProcesses = values.processes;
  }
  if (host.logRoot !== null && values.logDir !== null && !isInsideOrSame(values.logDir, host.logRoot)) {
    const ctx = chosenBy.get('logDir') === 'the command line' ? cli : appCtx(sidecar, text);
    throw invalid(
      ctx,
      'log_dir',
      `${values.logDir} is outside the host's log_root ${host.logRoot}.`,
      `put it under ${host.logRoot}, or remove log_dir`,
    );
  }

  return { ...values, warnings, source: text === null ? null : sidecar };
}

// ---------------------------------------------------------------------------------------------
// Conversion and validation of one value. Values arrive in TOML units and leave in TS units.

interface Ctx {
  file: string;
  /** The file's text, to find a key's line; null for the command line. */
  text: string | null;
  /** Relative python paths resolve against this; null: they must be absolute (host file). */
  baseDir: string | null;
  /** The [table] the key sits in, "" at top level. */
  section: string;
}

function appCtx(file: string, text: string | null): Ctx {
  return { file, text, baseDir: dirname(file), section: '' };
}

function convertBoolean(ctx: Ctx, name: string, raw: unknown): boolean {
  if (typeof raw !== 'boolean') throw wrongType(ctx, name, 'true or false', raw);
  return raw;
}

function oneOf<T extends string>(values: readonly T[]): Convert<T> {
  return (ctx, name, raw) => {
    if (!values.includes(raw as T)) throw wrongType(ctx, name, values.map((v) => JSON.stringify(v)).join(' or '), raw);
    return raw as T;
  };
}

function convertLogDir(ctx: Ctx, name: string, raw: unknown): string {
  if (typeof raw !== 'string' || raw === '')
    throw wrongType(ctx, name, 'a folder path (absolute, or starting with ~/)', raw);
  if (raw === '~' || raw.startsWith('~/')) return join(userInfo().homedir, raw.slice(1));
  if (!isAbsolute(raw)) {
    throw invalid(
      ctx,
      name,
      `log_dir must be absolute or start with ~/ (logs never belong beside the app, in the web space), got ${JSON.stringify(raw)}.`,
      `log_dir = "~/.wsgikit/logs"`,
    );
  }
  return resolve(raw);
}

function convertAddresses(ctx: Ctx, name: string, raw: unknown): string[] {
  if (!Array.isArray(raw)) throw wrongType(ctx, name, 'an array of IP addresses or CIDR ranges', raw);
  return raw.map((item) => {
    if (typeof item !== 'string' || parseAddressRule(item) === null) {
      throw invalid(
        ctx,
        name,
        `${JSON.stringify(item)} is not an IP address or CIDR range.`,
        `write it like "203.0.113.7", "2001:db8::/32" or "192.0.2.0/24"`,
      );
    }
    return item.trim();
  });
}

function convertToken(ctx: Ctx, name: string, raw: unknown): string {
  if (typeof raw !== 'string' || !/^[0-9a-fA-F]{64}$/.test(raw)) {
    throw invalid(
      ctx,
      name,
      `owner_token_sha256 must be 64 hex characters (the SHA-256 of your token, not the token itself), got ${describeValue(raw)}.`,
      `printf %s "$TOKEN" | sha256sum`,
    );
  }
  return raw.toLowerCase();
}

function convertMount(ctx: Ctx, name: string, raw: unknown): string {
  if (typeof raw !== 'string') throw wrongType(ctx, name, 'a string such as "/app" or ""', raw);
  if (raw !== '' && (!raw.startsWith('/') || raw.endsWith('/'))) {
    const fixed = raw === '/' ? '' : `/${raw.replace(/^\/+|\/+$/g, '')}`;
    throw invalid(
      ctx,
      name,
      `mount must start with "/" and not end with "/" (or be "" for the site root), got ${JSON.stringify(raw)}.`,
      `mount = ${JSON.stringify(fixed)}`,
    );
  }
  return raw;
}

function convertEnv(ctx: Ctx, name: string, raw: unknown): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Date) {
    throw wrongType(ctx, name, 'a table of NAME = "value"', raw);
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw invalid(ctx, name, `env.${k}: not a valid environment variable name.`, `use letters, digits and _ only`);
    }
    if (typeof v !== 'string' || v.includes('\0')) {
      throw invalid(
        ctx,
        name,
        `env.${k} must be a string, got ${describeValue(v)}.`,
        `quote it, ${k} = "${String(v)}"`,
      );
    }
    env[k] = v;
  }
  return env;
}

function convertRoots(ctx: Ctx, name: string, raw: unknown): string[] {
  if (!Array.isArray(raw)) throw wrongType(ctx, name, 'an array of absolute folder paths', raw);
  return raw.map((item) => {
    if (typeof item !== 'string' || !isAbsolute(item))
      throw wrongType(ctx, name, 'an array of absolute folder paths', item);
    return resolve(item);
  });
}

function convertAbsolute(ctx: Ctx, name: string, raw: unknown): string {
  if (typeof raw !== 'string' || !isAbsolute(raw)) throw wrongType(ctx, name, 'an absolute path', raw);
  return resolve(raw);
}

function convertChroot(ctx: Ctx, name: string, raw: unknown): string {
  const problem = chrootPatternProblem(raw);
  if (problem !== null)
    throw invalid(ctx, name, `${problem}, got ${describeValue(raw)}.`, `chroot = "/srv/chroots/%u"`);
  return raw as string;
}

function convertSendfile(ctx: Ctx, name: string, raw: unknown): SendfileMode {
  if (!isSendfileMode(raw)) throw wrongType(ctx, name, SENDFILE_MODES.map((m) => `"${m}"`).join(' or '), raw);
  return raw;
}

function convertTrustedOwners(ctx: Ctx, name: string, raw: unknown): Map<number, number[]> {
  const table = expectTable(ctx, name, raw);
  const sctx = { ...ctx, section: name };
  const trusted = new Map<number, number[]>();
  for (const [runner, owners] of Object.entries(table)) {
    const runnerUid = uidOfUser(runner);
    if (runnerUid === null) {
      throw invalid(
        sctx,
        runner,
        `no user ${runner} in /etc/passwd.`,
        `name the user the web server runs apps as, such as www-data`,
      );
    }
    if (!Array.isArray(owners)) throw wrongType(sctx, runner, 'an array of user names', owners);
    trusted.set(
      runnerUid,
      owners.map((owner) => {
        const uid = typeof owner === 'string' ? uidOfUser(owner) : null;
        if (uid === null) throw wrongType(sctx, runner, 'an array of user names in /etc/passwd', owner);
        return uid;
      }),
    );
  }
  return trusted;
}

function convertSendfileMap(ctx: Ctx, name: string, raw: unknown): SendfileMapping[] {
  const table = expectTable(ctx, name, raw);
  const sctx = { ...ctx, section: name };
  const map = Object.entries(table).map(([from, to]) => {
    const problem = sendfileMappingProblem(from, to);
    if (problem !== null) throw invalid(sctx, from, problem.problem, problem.fix);
    return { from, to: to as string };
  });
  return map.sort((a, b) => b.from.length - a.from.length);
}

function convertNumber(ctx: Ctx, name: string, spec: NumberSpec, raw: unknown): number {
  const unit = spec.unit === '' ? '' : ` (${spec.unit})`;
  const expected = `${spec.integer ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}${unit}`;
  if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) {
    throw invalid(
      ctx,
      name,
      `expected ${expected}, got the string ${JSON.stringify(raw)}.`,
      `${name} = ${Number(raw)} (no quotes)`,
    );
  }
  if (typeof raw !== 'number' || !Number.isFinite(raw)) throw wrongType(ctx, name, expected, raw);
  if ((spec.integer && !Number.isInteger(raw)) || raw < spec.min || raw > spec.max) {
    const fix = raw < spec.min ? spec.min : spec.max;
    throw invalid(ctx, name, `expected ${expected}, got ${raw}.`, `${name} = ${spec.integer ? Math.round(fix) : fix}`);
  }
  return spec.scale === 1 ? raw : Math.round(raw * spec.scale);
}

function convertPython(ctx: Ctx, name: string, raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw wrongType(ctx, name, 'a path to a Python executable', raw);
  if (isAbsolute(raw)) return resolve(raw);
  if (!raw.includes('/')) {
    // A bare name ("python3.12"): looked up in the fixed safe path, never in $PATH.
    const found = findInSafePath(raw);
    if (found !== null) return found;
    throw invalid(
      ctx,
      name,
      `${JSON.stringify(raw)} is not in ${SAFE_PATH.join(':')} (the only places searched; $PATH is not used).`,
      `give the absolute path, e.g. python = "/usr/bin/python3"`,
    );
  }
  if (ctx.baseDir === null) throw wrongType(ctx, name, 'an absolute path', raw);
  // Relative to the .wsgi's folder; normalised but not realpath'd: a venv's python must be
  // started through the venv's own bin/ path.
  return resolve(ctx.baseDir, raw);
}

// ---------------------------------------------------------------------------------------------
// Helpers.

function readIfExists(file: string, ownedByApp: boolean, expectedUid?: number, host?: HostSettings): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new WsgikitError('WSGIKIT_SETTINGS_INVALID', `${file} cannot be read (${code ?? String(err)}).`, {
      fix: `chmod a+r ${file}, or remove it`,
      cause: err,
    });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new WsgikitError('WSGIKIT_SETTINGS_INVALID', `${file} is not a regular file.`, {
        fix: `replace it with a TOML file, or remove it`,
      });
    }
    // Settings decide which program runs, so they obey the same rule as the .wsgi itself.
    if (ownedByApp) {
      const runner = expectedUid ?? process.getuid?.() ?? -1;
      checkOwnedFile(file, st, runner, host === undefined ? undefined : trustedOwnersFor(host, runner));
    } else if ((st.mode & 0o022) !== 0) {
      throw new WsgikitError(
        'WSGIKIT_SETTINGS_INVALID',
        `${file} is writable by group or others, so anyone could loosen the host's limits.`,
        { fix: `chmod go-w ${file}` },
      );
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function parseToml(file: string, text: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = err.message.replace(/^Invalid TOML document: /, '').split('\n')[0];
      throw new WsgikitError(
        'WSGIKIT_SETTINGS_INVALID',
        `${file}:${err.line}:${err.column}: not valid TOML: ${reason}\n${err.codeblock}`,
        { fix: `correct line ${err.line}; see https://toml.io for the syntax`, cause: err },
      );
    }
    throw err;
  }
}

function expectTable(ctx: Ctx, key: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
    throw wrongType(ctx, key, 'a table', value);
  }
  return value as Record<string, unknown>;
}

function locationOf(ctx: Ctx, key: string): string {
  const line = ctx.text === null ? null : findKeyLine(ctx.text, key, ctx.section);
  return line === null ? ctx.file : `${ctx.file}:${line}`;
}

function keyLabel(ctx: Ctx, key: string): string {
  return ctx.section === '' ? key : `[${ctx.section}] ${key}`;
}

function invalid(ctx: Ctx, key: string, problem: string, fix?: string): WsgikitError {
  return new WsgikitError('WSGIKIT_SETTINGS_INVALID', `${locationOf(ctx, key)}: ${keyLabel(ctx, key)}: ${problem}`, {
    fix,
  });
}

function wrongType(ctx: Ctx, key: string, expected: string, got: unknown): WsgikitError {
  return invalid(ctx, key, `expected ${expected}, got ${describeValue(got)}.`, `write ${key} as ${expected}`);
}

function unknownKey(ctx: Ctx, key: string, known: string[] = Object.keys(SETTING_SPECS)): WsgikitError {
  const norm = (k: string): string => k.toLowerCase().replace(/[-_]/g, '');
  const close = known.find((k) => norm(k) === norm(key)) ?? known.find((k) => editDistance(k, key.toLowerCase()) <= 2);
  const hint = close === undefined ? `Known keys: ${known.join(', ')}` : `Did you mean ${close}?`;
  return invalid(ctx, key, `unknown setting "${key}".`, `remove it or correct its name. ${hint}`);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** Best effort: smol-toml gives positions for syntax errors only, so find `key =` in the text. */
function findKeyLine(text: string, key: string, section: string): number | null {
  const esc = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const keyRe = new RegExp(`^\\s*(?:${esc}|"${esc}"|'${esc}')\\s*(?:=|\\.)`);
  const tableRe = new RegExp(`^\\s*\\[\\s*(?:${esc}|"${esc}")\\s*\\]`);
  const lines = text.split(/\r?\n/);
  let current = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const header = /^\s*\[\s*([^\]]+?)\s*\]/.exec(line);
    if (section === '' && tableRe.test(line)) return i + 1;
    if (header !== null) {
      current = header[1] ?? '';
      continue;
    }
    if (current === section && keyRe.test(line)) return i + 1;
  }
  return null;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return `an array (${JSON.stringify(v)})`;
  if (v instanceof Date) return `a date (${v.toISOString()})`;
  if (typeof v === 'object') return 'a table';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the integer ${v}` : `the number ${v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  return typeof v;
}

function specOf(ts: NumericSetting): NumberSpec {
  return SETTINGS[ts];
}

function tomlName(ts: keyof SettingValues): string {
  return TOML_NAME.get(ts) ?? ts;
}

/** A value in TS units shown in TOML units: "200 MiB", "90 seconds". */
function show(spec: NumberSpec, value: number): string {
  if (spec.zeroIsNone && value === 0) return '0 (no limit)';
  const v = value / spec.scale;
  return `${Number.isInteger(v) ? v : v.toFixed(2)}${spec.unit === 'MiB' ? ' MiB' : ''}`;
}

function exceeds(spec: NumberSpec, value: number, limit: number): boolean {
  if (spec.zeroIsNone && value === 0) return true; // "no limit" is above every cap
  return value > limit;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function hostWhere(host: HostSettings, table: string): string {
  return host.source === null ? '' : ` (${host.source} [${table}])`;
}

function isInsideOrSame(p: string, folder: string): boolean {
  const rel = relative(folder, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}
