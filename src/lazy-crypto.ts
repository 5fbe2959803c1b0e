// node:crypto, loaded on first use. Loading it costs a CGI request several milliseconds (its X.509
// setup runs at load), and only error pages (incident ids) and owner tokens need it.

import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');
let loaded: Crypto | undefined;

export function lazyCrypto(): Crypto {
  loaded ??= createRequire(import.meta.url)('node:crypto') as Crypto;
  return loaded;
}
