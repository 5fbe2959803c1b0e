// A path or word as a POSIX shell reads it back: bare when it is only safe characters, else in
// single quotes. For the commands that fix messages and checks print for the user to paste.

export function shellQuote(p: string): string {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}
