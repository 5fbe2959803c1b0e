// wsgi-check's note on which wsgi-cgi serves the app (the native launcher or the Node entry) and
// what the other would cost.

import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgiEntryChecks } from '../../src/check/cgi-entry-checks.js';
import type { AppSettings } from '../../src/app/settings.js';

const dir = mkdtempSync(join(tmpdir(), 'wsgikit-cgi-entry-'));
const native = join(dir, 'native');
copyFileSync('/bin/true', native);
const node = join(dir, 'node-entry');
writeFileSync(node, '#!/usr/bin/env node\n');

const ctx = (cgiDaemon: boolean | null, mode: 'cgi' | 'fcgi' | null = null) => ({
  mode,
  real: '/srv/app.wsgi',
  settings: cgiDaemon === null ? null : ({ cgiDaemon } as AppSettings),
});

describe('daemon.cgi-entry', () => {
  it('names the native launcher and what the Node entry would add', () => {
    const [f] = cgiEntryChecks(ctx(true), native, 41.6);
    expect(f).toMatchObject({ id: 'daemon.cgi-entry', severity: 'info', subject: native, fix: null });
    expect(f!.message).toContain('is the native launcher');
    expect(f!.message).toContain('42 ms on this host');
  });

  it('says a one-shot app goes to Node either way', () => {
    expect(cgiEntryChecks(ctx(false), native, 40)[0]!.message).toContain('runs one-shot (cgi_daemon = false)');
  });

  it('names the Node entry, its cost, and how to get the launcher', () => {
    const [f] = cgiEntryChecks(ctx(true), node, 55);
    expect(f!.message).toContain('is the Node entry: every CGI request starts Node first (55 ms on this host)');
    expect(f!.fix).toContain('apt-get install gcc');
  });

  it('says nothing for a FastCGI-only check', () => {
    expect(cgiEntryChecks(ctx(true, 'fcgi'), native, 40)).toEqual([]);
  });
});
