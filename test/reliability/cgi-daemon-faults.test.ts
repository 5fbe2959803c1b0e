// Faults through wsgi-cgi in daemon mode, run as a web server runs it (CGI variables, stdin,
// stdout): a Python worker of the daemon killed mid-request (502 with an incident, the daemon and
// its other requests unaffected, a new worker next), and the daemon's socket and the app's log
// owner-only.

import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { homeOf } from '../../src/app/locate.js';
import { daemonPaths } from '../../src/cgi/daemon.js';
import { CGI_ENTRIES, cgi, site, useCgiEntry, type Site } from '../helpers/cgi-site.js';
import { eventually } from '../helpers/wsgi-run.js';
import { INCIDENT } from '../helpers/servers.js';

const APP = `
import os, sys, time
def application(environ, start_response):
    path = environ['PATH_INFO']
    gate = environ['QUERY_STRING'][len('gate='):]
    if path == '/wait':
        print('waiting %s %d' % (gate, os.getpid()))
        sys.stdout.flush()
        deadline = time.time() + 20
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.01)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s %d' % (path, os.getpid())).encode()]
`;

describe.each(CGI_ENTRIES)('through the $name entry', (entry) => {
  beforeAll(() => useCgiEntry(entry));

  describe('wsgi-cgi daemon mode under faults', () => {
    let s: Site;
    const log = () => s.log();

    /** The request as the server would run it; the gate file the app waits for, if any. */
    async function cgiGet(path: string, gate = ''): Promise<{ status: number; body: string }> {
      // With a "=" in it: a query without one would come with search words as arguments (RFC 3875 §4.4).
      const res = await cgi(s, { PATH_INFO: path, QUERY_STRING: `gate=${gate}`, HTTP_ACCEPT: 'text/plain' });
      return { status: res.status, body: res.body.toString('latin1') };
    }

    const daemonPids = () =>
      [...s.daemonLog().matchAll(/"pid":(\d+),"name":"wsgi-fcgi","listen"/g)].map((m) => Number(m[1]));

    beforeAll(() => {
      s = site(APP, 'processes = 2\nmin_processes = 2\n', 30);
    });

    afterAll(() => {
      for (const pid of daemonPids()) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone already
        }
      }
    });

    it('a worker of the daemon killed mid-request: 502 with an incident; the other request and the daemon live on', async () => {
      expect((await cgiGet('/warm')).status).toBe(200);
      const [daemon] = daemonPids();
      expect(daemon).toBeGreaterThan(0);
      const gates = [join(s.root, 'gate-a'), join(s.root, 'gate-b')];
      const a = cgiGet('/wait', gates[0]);
      const b = cgiGet('/wait', gates[1]);
      const pids = await eventually(() => {
        const pa = new RegExp(`waiting ${gates[0]} (\\d+)`).exec(log());
        const pb = new RegExp(`waiting ${gates[1]} (\\d+)`).exec(log());
        return pa && pb ? [Number(pa[1]), Number(pb[1])] : null;
      }, 'both requests running');
      process.kill(pids[0]!, 'SIGKILL');
      const killed = await a;
      expect(killed.status).toBe(502);
      const incident = INCIDENT.exec(killed.body)?.[0];
      expect(incident).toBeTruthy();
      expect(log()).toContain(`incident ${incident}`);
      writeFileSync(gates[1]!, '');
      expect(await b).toEqual({ status: 200, body: `/wait ${pids[1]}` });
      const next = await cgiGet('/next');
      expect(next.status).toBe(200);
      expect(Number(next.body.split(' ')[1])).not.toBe(pids[0]);
      // Still the same daemon: only the worker was replaced.
      expect(daemonPids()).toEqual([daemon]);
      process.kill(daemon!, 0);
    });

    it('the daemon itself killed mid-request: the launcher gives the 502 page, the Node entry runs it again', async () => {
      expect((await cgiGet('/warm')).status).toBe(200);
      const daemon = daemonPids().at(-1)!;
      const gate = join(s.root, `gate-daemon-${entry.name}`);
      const pending = cgiGet('/wait', gate);
      await eventually(() => log().includes(`waiting ${gate}`), 'the request running');
      process.kill(daemon, 'SIGKILL');
      if (entry.name === 'native') {
        // The daemon had taken the request: it is not run again.
        const res = await pending;
        expect(res.status).toBe(502);
        const incident = INCIDENT.exec(res.body)?.[0];
        expect(incident).toBeTruthy();
        expect(log()).toContain(`incident ${incident}`);
        writeFileSync(gate, '');
      } else {
        // Nothing was written and there is no body: the Node entry runs the request one-shot.
        writeFileSync(gate, '');
        expect((await pending).status).toBe(200);
      }
      // The next request has a daemon again.
      await eventually(() => {
        try {
          process.kill(daemon, 0);
          return false;
        } catch {
          return true;
        }
      }, 'the killed daemon gone');
      expect((await cgiGet('/after')).status).toBe(200);
    });

    it("keeps the daemon's socket 0600 in a 0700 folder, and the app's log 0600 in a 0700 folder", async () => {
      const home = homeOf(process.getuid!());
      const { socket } = daemonPaths(home, s.hostSettings);
      expect(statSync(socket).isSocket()).toBe(true);
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      expect(statSync(join(socket, '..')).mode & 0o777).toBe(0o700);
      const logs = join(s.root, 'logs');
      expect(statSync(logs).mode & 0o777).toBe(0o700);
      for (const f of readdirSync(logs)) expect(statSync(join(logs, f)).mode & 0o777, f).toBe(0o600);
    });
  });
});
