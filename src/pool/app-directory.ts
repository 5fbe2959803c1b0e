// From "this request names that .wsgi" to the pool that serves it, for the long-running front ends
// (wsgi-fcgi, and the user's daemon behind wsgi-cgi). Resolving an app (file checks, settings,
// Python, log) costs about half a millisecond, so it is done once and then re-done at most once
// per reload_check_interval: a file that turns group-writable, a changed sidecar or a new venv is
// noticed within that interval, and the hot path pays a Map lookup.

import process from 'node:process';
import { appEnvironment, appOffloadPolicy, openAppLog, resolveApp, type ResolvedApp } from '../app/resolve-app.js';
import type { AppSettings, HostSettings } from '../app/settings.js';
import type { OpsLog } from '../ops-log.js';
import { hostPagesFor, type HostPages } from '../pages/host-pages.js';
import { Pool } from './pool.js';
import { PoolManager, type AppIdentity, type PoolEntry } from './pool-manager.js';

export interface AppDirectoryOptions {
  host: HostSettings;
  /** Folders apps must lie in (--root); empty: the host's allowed_roots, else the owner's home. */
  allowedRoots: string[];
  /** The app's os.environ before its settings' `env` table. */
  baseEnv: NodeJS.ProcessEnv;
  ops: OpsLog;
  overrides?: Partial<AppSettings>;
  pythonOverride?: string;
}

export interface ServedApp {
  resolved: ResolvedApp;
  pool: Pool;
}

interface Entry {
  resolved: ResolvedApp;
  /** When to resolve again. */
  checkAt: number;
  /** What the resolution depended on; a difference retires the pool. */
  stamp: string;
  /** What lookup() returns, with the manager's record of its pool: kept while not dropped. */
  kept: { served: ServedApp; record: PoolEntry } | null;
}

export class AppDirectory {
  readonly manager = new PoolManager();
  private options: AppDirectoryOptions;
  private readonly entries = new Map<string, Entry>();
  private readonly uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  /** The host's error pages (host.toml error_pages), or null: the built-in pages only. */
  hostPages: HostPages | null;

  constructor(options: AppDirectoryOptions) {
    this.options = options;
    this.hostPages = hostPagesFor(options.host, options.ops);
  }

  /**
   * The app for a .wsgi path, resolved and checked (throws the WsgikitError that refused it), and
   * its pool (made on first use, and again after the manager dropped an idle one).
   * `documentRoot`: the log must not land under it.
   */
  lookup(appFile: string, documentRoot: string | undefined): ServedApp {
    const entry = this.current(appFile, documentRoot);
    const { kept } = entry;
    // The hot path: the pool's record kept from the last request, marked in use as the manager would.
    if (kept !== null && !kept.record.dropped) {
      kept.record.idleSince = null;
      return kept.served;
    }
    const record = this.poolRecord(entry.resolved);
    entry.kept = { served: { resolved: entry.resolved, pool: record.pool }, record };
    return entry.kept.served;
  }

  /** The pool of an app resolve() returned: made on first use, and again after the manager dropped an idle one. */
  pool(resolved: ResolvedApp): Pool {
    return this.poolRecord(resolved).pool;
  }

  private poolRecord(resolved: ResolvedApp): PoolEntry {
    return this.manager.entry(this.identity(resolved), () => this.newPool(resolved));
  }

  /** The app resolved and checked as lookup() does, without making its pool (an app it may decline). */
  resolve(appFile: string, documentRoot: string | undefined): ResolvedApp {
    return this.current(appFile, documentRoot).resolved;
  }

  /** The app's entry, resolved again when its reload_check_interval has passed. */
  private current(appFile: string, documentRoot: string | undefined): Entry {
    const entry = this.entries.get(appFile);
    if (!entry || Date.now() >= entry.checkAt) return this.refresh(appFile, documentRoot, entry);
    return entry;
  }

  /** The longest idle_timeout of the apps resolved so far, in seconds, and at least `floor`. */
  longestIdleTimeout(floor: number): number {
    let longest = floor;
    for (const entry of this.entries.values()) longest = Math.max(longest, entry.resolved.settings.idleTimeout);
    return longest;
  }

  /** New host settings (SIGHUP): every app is resolved again against them on its next request. */
  setHost(host: HostSettings): void {
    this.options = { ...this.options, host };
    this.hostPages = hostPagesFor(host, this.options.ops, this.hostPages);
  }

  /** SIGHUP: settings are read again on the next request, and every pool starts fresh workers. */
  reloadAll(reason: string): void {
    for (const entry of this.entries.values()) entry.checkAt = 0;
    for (const pool of this.manager.pools()) pool.reload(reason);
  }

  async close(): Promise<void> {
    this.entries.clear();
    await this.manager.close();
  }

  private refresh(appFile: string, documentRoot: string | undefined, previous: Entry | undefined): Entry {
    let resolved: ResolvedApp;
    try {
      resolved = resolveApp(appFile, {
        host: this.options.host,
        overrides: this.options.overrides,
        pythonOverride: this.options.pythonOverride,
        allowedRoots: this.options.allowedRoots.length > 0 ? this.options.allowedRoots : undefined,
        documentRoot,
      });
    } catch (error) {
      // Refused now (a file turned group-writable, say): nothing more runs from the old pool.
      if (previous) {
        this.entries.delete(appFile);
        this.manager.retire(this.identity(previous.resolved));
      }
      throw error;
    }
    const { sendfile, sendfileMap } = this.options.host;
    const stamp = JSON.stringify([stampOf(resolved), sendfile, sendfileMap]);
    // Settings, Python or log changed: running requests finish in the old pool, new ones go to a new one.
    if (previous && previous.stamp !== stamp) this.manager.retire(this.identity(previous.resolved));
    const checkAt = Date.now() + resolved.settings.reloadCheckInterval * 1000;
    const entry: Entry = { resolved, stamp, checkAt, kept: null };
    this.entries.set(appFile, entry);
    return entry;
  }

  private identity(resolved: ResolvedApp): AppIdentity {
    return { appFile: resolved.checked.file, python: resolved.python.path, uid: this.uid };
  }

  private newPool(resolved: ResolvedApp): Pool {
    const { checked, settings, python, logFile, chroot } = resolved;
    let reportedAt = 0;
    const log = openAppLog(resolved, {
      // The owner cannot read about it in a log that cannot be written: the server's log says it,
      // once a minute at most, not once per lost line.
      onError: (error) => {
        const now = Date.now();
        if (now - reportedAt < 60_000) return;
        reportedAt = now;
        this.options.ops.warn(
          { app: checked.file, log: logFile, err: error.message, lost: log.failures },
          "the app's log cannot be written; its lines are lost until it can",
        );
      },
    });
    for (const warning of settings.warnings) log.write('wsgikit', `settings: ${warning}`);
    return new Pool({
      appFile: checked.file,
      python: python.path,
      env: appEnvironment(this.options.baseEnv, settings),
      limits: settings,
      log,
      ops: this.options.ops,
      chroot,
      offload: appOffloadPolicy(resolved, this.options.host),
    });
  }
}

function stampOf(resolved: ResolvedApp): string {
  const { checked, python, logFile, logProblem, settings, chroot } = resolved;
  const { warnings: _warnings, source: _source, ...values } = settings;
  // logProblem: once the log's folder can be made, a new pool logs there instead of to stderr.
  return JSON.stringify([checked.file, python.path, logFile, logProblem, values, chroot]);
}
