// Is this request from the site owner? Decides whether an error page may show the traceback.
// Two ways in, either one is enough: the client address matches `owner_addresses` (IPv4, IPv6,
// CIDR; `::ffff:1.2.3.4` counts as 1.2.3.4), or the `wsgikit_owner` cookie hashes (SHA-256, hex)
// to `owner_token_sha256`. Runs on error pages only, but must stay cheap: the address rules are
// parsed once per settings object, and node:crypto is loaded only when a token is configured.

import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';
import { lazyCrypto } from '../lazy-builtins.js';

export interface OwnerSettings {
  ownerAddresses: readonly string[];
  ownerTokenSha256: string | null;
}

export const OWNER_COOKIE = 'wsgikit_owner';

export function isOwnerRequest(settings: OwnerSettings, remoteAddr: string, cookieHeader: string | undefined): boolean {
  if (settings.ownerAddresses.length > 0 && addressMatches(settings.ownerAddresses, remoteAddr)) return true;
  if (settings.ownerTokenSha256 !== null && cookieHeader !== undefined && cookieHeader !== '') {
    return tokenMatches(settings.ownerTokenSha256, cookieHeader);
  }
  return false;
}

/** One `owner_addresses` entry, parsed: the address bytes and how many leading bits must match. */
export interface AddressRule {
  family: 4 | 6;
  bytes: Uint8Array;
  prefix: number;
}

/** Parses `1.2.3.4`, `10.0.0.0/8`, `2001:db8::/32`, `::ffff:10.0.0.0/104`; null when invalid. */
export function parseAddressRule(text: string): AddressRule | null {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const address = parseAddress(addressText);
  if (address === null) return null;
  const full = address.length * 8;
  let prefix = full;
  if (slash !== -1) {
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    prefix = Number(prefixText);
    // A mapped IPv6 address is turned into IPv4 by parseAddress, so its prefix shrinks by 96.
    if (address.length === 4 && addressText.includes(':')) prefix -= 96;
    if (prefix < 0 || prefix > full) return null;
  }
  return { family: address.length === 4 ? 4 : 6, bytes: address, prefix };
}

// ---------------------------------------------------------------------------------------------

const rulesCache = new WeakMap<readonly string[], AddressRule[]>();

function addressMatches(entries: readonly string[], remoteAddr: string): boolean {
  let rules = rulesCache.get(entries);
  if (rules === undefined) {
    rules = [];
    for (const entry of entries) {
      const rule = parseAddressRule(entry);
      if (rule !== null) rules.push(rule); // settings.ts has already refused invalid entries
    }
    rulesCache.set(entries, rules);
  }
  const remote = parseAddress(remoteAddr);
  if (remote === null) return false;
  for (const rule of rules) {
    if (rule.bytes.length === remote.length && prefixEqual(rule.bytes, remote, rule.prefix)) return true;
  }
  return false;
}

function prefixEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}

/**
 * 4 bytes for IPv4 (and for IPv4-mapped IPv6), 16 for IPv6; null when not an address.
 * Accepts `[::1]` brackets and drops a `%zone` suffix.
 */
function parseAddress(text: string): Uint8Array | null {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  const family = isIP(s);
  if (family === 4) return parseIPv4(s);
  if (family !== 6) return null;
  const v6 = parseIPv6(s);
  if (v6 === null) return null;
  if (isMappedIPv4(v6)) return v6.subarray(12);
  return v6;
}

function parseIPv4(s: string): Uint8Array {
  const parts = s.split('.');
  return Uint8Array.from(parts, (p) => Number(p));
}

function parseIPv6(s: string): Uint8Array | null {
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words = (part: string | undefined): number[] | null => {
    if (part === undefined || part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const v4 = parseIPv4(group);
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        out.push(parseInt(group, 16));
      }
    }
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (head === null || tail === null) return null;
  const zeros = 8 - head.length - tail.length;
  if (zeros < 0 || (halves.length === 1 && zeros !== 0)) return null;
  const all = [...head, ...new Array<number>(zeros).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
}

function isMappedIPv4(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

// ---------------------------------------------------------------------------------------------

function tokenMatches(expectedHex: string, cookieHeader: string): boolean {
  const expected = Buffer.from(expectedHex, 'hex');
  if (expected.length !== 32) return false;
  const { createHash, timingSafeEqual } = lazyCrypto(); // a request whose settings name no token never loads it
  let matched = false;
  for (const value of cookieValues(cookieHeader, OWNER_COOKIE)) {
    const digest = createHash('sha256').update(value, 'utf8').digest();
    // No early return: every candidate costs the same.
    if (timingSafeEqual(digest, expected)) matched = true;
  }
  return matched;
}

function cookieValues(header: string, name: string): string[] {
  const values: string[] = [];
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value !== '') values.push(value);
  }
  return values;
}
