// Node builtins loaded on first use, for code on the CGI request path, which pays for every module
// it loads on every request (bench/results/design-figures.md). node:crypto runs its X.509 setup at
// load, and only error pages (incident ids) and owner tokens need it; node:http is wanted there
// only for its reason phrases, when a host page replaces an app's error; node:child_process only
// by the request that starts an app's daemon.

import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');
type Http = typeof import('node:http');
type ChildProcess = typeof import('node:child_process');
let crypto: Crypto | undefined;
let http: Http | undefined;
let childProcess: ChildProcess | undefined;

export function lazyCrypto(): Crypto {
  crypto ??= createRequire(import.meta.url)('node:crypto') as Crypto;
  return crypto;
}

export function lazyHttp(): Http {
  http ??= createRequire(import.meta.url)('node:http') as Http;
  return http;
}

export function lazyChildProcess(): ChildProcess {
  childProcess ??= createRequire(import.meta.url)('node:child_process') as ChildProcess;
  return childProcess;
}
