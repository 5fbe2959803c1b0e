#!/usr/bin/env node
// wsgi-cgi: the CGI program. Started once per request, so it parses its own few arguments
// instead of loading commander, and loads the request path only when there is a request.
//
//   wsgi-cgi [APP.wsgi]            serve the CGI request in the environment
//   wsgi-cgi --help | --version

import process from 'node:process';
import { parseCgiArgv } from '../request/cgi-argv.js';
import { VERSION } from '../version.js';

const HELP = `Usage: wsgi-cgi [options] [APP.wsgi]

The CGI program of wsgikit: serves one request from the CGI environment the web server gives it.
The .wsgi comes from the argument (a .wsgi whose first line is #!/usr/bin/env wsgi-cgi passes
itself), from PATH_TRANSLATED (Apache Action handler), or from SCRIPT_FILENAME. By default it hands
the request to the user's daemon, started on demand (cgi_daemon = false in the app's settings runs
one Python process per request instead). Where a C compiler was there at install, wsgi-cgi is a
native launcher that relays to that daemon without starting Node (docs/cgi-launcher.md).

Options:
  --host-settings <file>  host settings (default: /etc/wsgikit/host.toml when present)
  -V, --version           print the version
  -h, --help              print this help
`;

async function main(argv: string[]): Promise<number> {
  const parsed = parseCgiArgv(argv, process.env.GATEWAY_INTERFACE !== undefined, process.env.QUERY_STRING);
  if (parsed.kind === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  if (parsed.kind === 'bad') {
    process.stderr.write(`wsgi-cgi: unexpected argument ${JSON.stringify(parsed.arg)}\n\n${HELP}`);
    return 2;
  }
  if (process.env.GATEWAY_INTERFACE === undefined) {
    process.stderr.write(
      'wsgi-cgi: no CGI request here (GATEWAY_INTERFACE is not set): the web server runs this program.\n' +
        'To serve an app yourself, use wsgi-run APP.wsgi; to check a host, wsgi-check APP.wsgi.\n',
    );
    return 2;
  }
  const { runCgi } = await import('../cgi/run-cgi.js');
  return runCgi({ appArgument: parsed.app, hostSettings: parsed.hostSettings });
}

/**
 * Exits as soon as what was written has left: a natural exit would first tear the heap down, a few
 * milliseconds that the web server spends waiting for our stdout to close. Only output still
 * queued could be lost by exiting, and the callback of an empty write comes after all of it.
 */
function exitWhenWritten(code: number): void {
  process.exitCode = code;
  const queued = [process.stdout, process.stderr].filter((stream) => stream.writableLength > 0);
  let pending = queued.length;
  if (pending === 0) process.exit();
  for (const stream of queued) {
    stream.on('error', () => {}); // the server went away: the callback below says so and we exit
    stream.write('', () => {
      if (--pending === 0) process.exit();
    });
  }
}

main(process.argv.slice(2)).then(exitWhenWritten, (error: unknown) => {
  process.stderr.write(`wsgi-cgi: ${(error as Error)?.stack ?? String(error)}\n`);
  exitWhenWritten(1);
});
