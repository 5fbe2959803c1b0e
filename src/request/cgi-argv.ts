// The arguments of wsgi-cgi, read the same way whether the Node entry was started with them or
// the launcher relayed them to the daemon (src/cgi/launcher/wsgi-cgi.c).

export type CgiArgv =
  | { kind: 'serve'; app: string | null; hostSettings: string | undefined }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'bad'; arg: string };

/**
 * RFC 3875 §4.4: for a query string without "=", the server also passes its words as command-line
 * arguments, after the script. Apache's mod_cgid shell-escapes each (so they cannot be matched by
 * value) and skips empty ones; they are always the last ones, so as many are dropped as there are
 * non-empty words. They are never ours to parse: the app reads QUERY_STRING.
 */
function withoutSearchWords(argv: string[], query: string | undefined): string[] {
  if (!query || query.includes('=')) return argv;
  const words = query.split('+').filter((word) => word !== '').length;
  return argv.slice(0, Math.max(0, argv.length - words));
}

/** `argv` without the program; `cgi` when there is a request (GATEWAY_INTERFACE is set). */
export function parseCgiArgv(argv: string[], cgi: boolean, query: string | undefined): CgiArgv {
  if (cgi) argv = withoutSearchWords(argv, query);
  let app: string | null = null;
  let hostSettings: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') return { kind: 'help' };
    if (arg === '-V' || arg === '--version') return { kind: 'version' };
    if (arg === '--host-settings' && i + 1 < argv.length) {
      hostSettings = argv[++i];
    } else if (arg.startsWith('-') || app !== null) {
      return { kind: 'bad', arg };
    } else {
      app = arg;
    }
  }
  return { kind: 'serve', app, hostSettings };
}
