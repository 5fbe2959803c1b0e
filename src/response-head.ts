// The head of a CGI-style response (RFC 3875 §6): what a CGI program prints before its body, and
// what a FastCGI responder sends in STDOUT. Shared by both front ends because both servers parse
// exactly this.

import { Buffer } from 'node:buffer';
import type { ResponseHeaders } from './exchange.js';

/**
 * The last head made, by the identity of its headers: an app sends the same head again and again,
 * and the bridge hands the same array for it, which nobody changes (exchange.ts). The Buffer is
 * only ever written out, never changed, so it can go out with several responses.
 */
let last: { status: string; headers: ResponseHeaders; head: Buffer } | null = null;

/**
 * `Status:` and the headers, CRLF-terminated, as latin-1 bytes (the bridge has validated every
 * name and value). A 200 whose Location is a local path and that has no body is sent as a bare
 * `Location:`: the CGI "local redirect", which makes the server serve that path internally
 * (mod_wsgi's daemon mode offers the same to apps that ask this way).
 */
export function cgiResponseHead(status: string, headers: ResponseHeaders): Buffer {
  if (last !== null && last.headers === headers && last.status === status) return last.head;
  const head = formatHead(status, headers);
  last = { status, headers, head };
  return head;
}

function formatHead(status: string, headers: ResponseHeaders): Buffer {
  let head = '';
  let location: string | null = null;
  let contentLength: string | null = null;
  for (const [name, value] of headers) {
    head += `${name}: ${value}\r\n`;
    const lower = name.length === 8 || name.length === 14 ? name.toLowerCase() : '';
    if (lower === 'location') location = value;
    else if (lower === 'content-length') contentLength = value;
  }
  if (location !== null && location[0] === '/' && status.startsWith('200') && (contentLength ?? '0') === '0') {
    return Buffer.from(`Location: ${location}\r\n\r\n`, 'latin1');
  }
  return Buffer.from(`Status: ${status}\r\n${head}\r\n`, 'latin1');
}
