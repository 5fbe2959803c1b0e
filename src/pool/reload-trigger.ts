// Restart without a shell: touching the .wsgi or a restart.txt beside it reloads the app (what
// mod_wsgi and Passenger users already know). Checked on the request path, at most once per
// interval, with synchronous stats: two syscalls a second cost less than a watcher per app.

import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export class ReloadTrigger {
  readonly files: readonly string[];
  private readonly intervalMs: number;
  private stamp: string;
  private checkedAt: number;

  constructor(appFile: string, intervalSeconds: number) {
    this.files = [appFile, join(dirname(appFile), 'restart.txt')];
    this.intervalMs = intervalSeconds * 1000;
    this.stamp = this.read();
    this.checkedAt = Date.now();
  }

  /** The file that changed since the last call that returned one, or null. */
  changed(now: number): string | null {
    if (now - this.checkedAt < this.intervalMs) return null;
    this.checkedAt = now;
    const stamp = this.read();
    if (stamp === this.stamp) return null;
    const before = this.stamp.split('|');
    const after = stamp.split('|');
    this.stamp = stamp;
    const index = after.findIndex((part, i) => part !== before[i]);
    return this.files[index === -1 ? 0 : index]!;
  }

  private read(): string {
    return this.files
      .map((file) => {
        try {
          const st = statSync(file);
          return `${st.ino}:${st.size}:${st.mtimeMs}`;
        } catch {
          return '-';
        }
      })
      .join('|');
  }
}
