// The end-to-end tests' checks on real servers that need the test runner: a log dump after a failed
// test, and the assertions several guides' tests share. servers.ts holds the rest, runner-free.

import { afterEach, expect } from 'vitest';
import { curl, INCIDENT } from './servers.js';
import { eventually } from './wsgi-run.js';

/** After a failed test: print what the servers and wsgi-fcgi logged, to see why. */
export function dumpLogsOnFailure(logs: () => Array<[string, string]>): void {
  afterEach((context) => {
    // it.fails cases fail on purpose: no dump for those.
    if (context.task.result?.state !== 'fail' || context.task.fails) return;
    for (const [name, text] of logs()) {
      console.error(`----- ${name} (last 4000 chars) -----\n${text.slice(-4000)}`);
    }
  });
}

/**
 * The Flask fixture (test/fixtures/e2e/flask.wsgi) at `scriptName` behind the server at `base`:
 * its url_for links sit under SCRIPT_NAME, and its absolute links carry the server's host and port.
 */
export async function expectFlaskLinks(base: string, scriptName: string): Promise<void> {
  const res = await curl(`${base}${scriptName}/page/one`);
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toEqual({
    name: 'one',
    link: `${scriptName}/page/other`,
    external: `${base}${scriptName}/page/other`,
    script_root: scriptName,
    path: '/page/one',
  });
}

/**
 * The environ fixture raising (X-E2E: boom) at `url`: a visitor gets a 500 with an incident id and
 * nothing of the failure (nor any of `alsoHidden`); the app's log has the traceback under that id.
 * Returns the log's text.
 */
export async function expectHiddenException(
  url: string,
  appLog: () => string,
  alsoHidden: string[] = [],
): Promise<string> {
  const res = await curl(url, ['-H', 'X-E2E: boom', '-H', 'Accept: text/html']);
  expect(res.status).toBe(500);
  const incident = INCIDENT.exec(res.body)?.[0];
  expect(incident).toBeTruthy();
  for (const secret of ['e2e secret detail', 'Traceback', 'fail_here', ...alsoHidden]) {
    expect(res.body).not.toContain(secret);
  }
  return eventually(() => {
    const log = appLog();
    return log.includes(incident!) && log.includes('e2e secret detail 7f3a') && log.includes('fail_here') ? log : null;
  }, 'the traceback in the app log');
}
