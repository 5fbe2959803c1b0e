// One temp folder for the whole run, removed at its end: the tests (and every server, daemon and
// Python process they start, which inherit TMPDIR) make their folders and sockets inside it, and
// leave nothing behind in the machine's temp folder. World-writable with the sticky bit, as /tmp
// is, so that the web servers' users can enter it and processes that drop to them can still make
// their own temp files there. WSGIKIT_KEEP_E2E=1, which keeps the servers' folders to look at
// (test/helpers/servers.ts), keeps this one too: they are inside it.

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'wsgikit-tests-'));
  chmodSync(dir, 0o1777);
  process.env.TMPDIR = dir;
  return () => {
    if (!process.env.WSGIKIT_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
  };
}
