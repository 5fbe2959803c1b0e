import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isOwnerRequest, parseAddressRule } from '../../src/app/owner.js';

const TOKEN = 'correct horse battery staple';
const TOKEN_SHA = createHash('sha256').update(TOKEN).digest('hex');

function owner(addresses: string[], token: string | null = null) {
  return { ownerAddresses: addresses, ownerTokenSha256: token };
}

describe('isOwnerRequest by address', () => {
  it('matches an exact IPv4 address', () => {
    const s = owner(['203.0.113.7']);
    expect(isOwnerRequest(s, '203.0.113.7', undefined)).toBe(true);
    expect(isOwnerRequest(s, '203.0.113.8', undefined)).toBe(false);
  });

  it('matches an IPv4 CIDR range, including odd prefixes', () => {
    const s = owner(['192.0.2.0/24', '198.51.100.64/26']);
    expect(isOwnerRequest(s, '192.0.2.200', undefined)).toBe(true);
    expect(isOwnerRequest(s, '192.0.3.1', undefined)).toBe(false);
    expect(isOwnerRequest(s, '198.51.100.127', undefined)).toBe(true);
    expect(isOwnerRequest(s, '198.51.100.128', undefined)).toBe(false);
    expect(isOwnerRequest(owner(['0.0.0.0/0']), '8.8.8.8', undefined)).toBe(true);
  });

  it('matches IPv6 addresses whatever their notation', () => {
    const s = owner(['2001:db8::1']);
    expect(isOwnerRequest(s, '2001:0db8:0000:0000:0000:0000:0000:0001', undefined)).toBe(true);
    expect(isOwnerRequest(s, '2001:DB8::1', undefined)).toBe(true);
    expect(isOwnerRequest(s, '2001:db8::2', undefined)).toBe(false);
    expect(isOwnerRequest(owner(['::1']), '::1', undefined)).toBe(true);
  });

  it('matches an IPv6 CIDR range', () => {
    const s = owner(['2001:db8:abcd::/48']);
    expect(isOwnerRequest(s, '2001:db8:abcd:12::5', undefined)).toBe(true);
    expect(isOwnerRequest(s, '2001:db8:abce::5', undefined)).toBe(false);
  });

  it('treats an IPv4-mapped IPv6 client as its IPv4 address', () => {
    expect(isOwnerRequest(owner(['203.0.113.7']), '::ffff:203.0.113.7', undefined)).toBe(true);
    expect(isOwnerRequest(owner(['203.0.113.0/24']), '::FFFF:203.0.113.99', undefined)).toBe(true);
    expect(isOwnerRequest(owner(['203.0.113.7']), '::ffff:cb00:7107', undefined)).toBe(true);
    // and a mapped rule as an IPv4 rule
    expect(isOwnerRequest(owner(['::ffff:203.0.113.7']), '203.0.113.7', undefined)).toBe(true);
    expect(isOwnerRequest(owner(['::ffff:203.0.113.0/120']), '203.0.113.9', undefined)).toBe(true);
  });

  it('keeps IPv4 and IPv6 apart', () => {
    expect(isOwnerRequest(owner(['0.0.0.0/0']), '2001:db8::1', undefined)).toBe(false);
    expect(isOwnerRequest(owner(['::/0']), '10.0.0.1', undefined)).toBe(false);
  });

  it('accepts bracketed and zoned client addresses, and rejects garbage', () => {
    expect(isOwnerRequest(owner(['fe80::1']), 'fe80::1%eth0', undefined)).toBe(true);
    expect(isOwnerRequest(owner(['::1']), '[::1]', undefined)).toBe(true);
    expect(isOwnerRequest(owner(['10.0.0.1']), 'not-an-ip', undefined)).toBe(false);
    expect(isOwnerRequest(owner(['10.0.0.1']), '', undefined)).toBe(false);
  });
});

describe('isOwnerRequest by cookie', () => {
  it('matches the wsgikit_owner cookie whose SHA-256 is configured', () => {
    const s = owner([], TOKEN_SHA);
    expect(isOwnerRequest(s, '198.51.100.1', `session=abc; wsgikit_owner=${TOKEN}; theme=dark`)).toBe(true);
    expect(isOwnerRequest(s, '198.51.100.1', `wsgikit_owner="${TOKEN}"`)).toBe(true);
  });

  it('refuses a wrong token, a missing cookie, and a cookie of another name', () => {
    const s = owner([], TOKEN_SHA);
    expect(isOwnerRequest(s, '198.51.100.1', 'wsgikit_owner=guess')).toBe(false);
    expect(isOwnerRequest(s, '198.51.100.1', undefined)).toBe(false);
    expect(isOwnerRequest(s, '198.51.100.1', '')).toBe(false);
    expect(isOwnerRequest(s, '198.51.100.1', `not_wsgikit_owner=${TOKEN}`)).toBe(false);
    // sending the hash itself as the token does not work
    expect(isOwnerRequest(s, '198.51.100.1', `wsgikit_owner=${TOKEN_SHA}`)).toBe(false);
  });

  it('finds the right cookie among duplicates', () => {
    expect(isOwnerRequest(owner([], TOKEN_SHA), '198.51.100.1', `wsgikit_owner=old; wsgikit_owner=${TOKEN}`)).toBe(
      true,
    );
  });

  it('ignores cookies when no token is configured', () => {
    expect(isOwnerRequest(owner([]), '198.51.100.1', `wsgikit_owner=${TOKEN}`)).toBe(false);
  });

  it('accepts either way in', () => {
    const s = owner(['10.0.0.0/8'], TOKEN_SHA);
    expect(isOwnerRequest(s, '10.1.2.3', undefined)).toBe(true);
    expect(isOwnerRequest(s, '192.0.2.1', `wsgikit_owner=${TOKEN}`)).toBe(true);
    expect(isOwnerRequest(s, '192.0.2.1', 'wsgikit_owner=nope')).toBe(false);
  });
});

describe('parseAddressRule', () => {
  it('parses addresses and ranges', () => {
    expect(parseAddressRule('10.0.0.0/8')).toEqual({ family: 4, bytes: Uint8Array.from([10, 0, 0, 0]), prefix: 8 });
    expect(parseAddressRule('2001:db8::/32')?.prefix).toBe(32);
    expect(parseAddressRule('::ffff:10.0.0.0/104')).toEqual({
      family: 4,
      bytes: Uint8Array.from([10, 0, 0, 0]),
      prefix: 8,
    });
  });

  it('rejects what is not an address or range', () => {
    for (const bad of [
      '',
      'localhost',
      '10.0.0.0/33',
      '10.0.0.0/',
      '10.0.0/8',
      '2001:db8::/129',
      '1.2.3.4/-1',
      '::ffff:1.2.3.4/64',
    ]) {
      expect(parseAddressRule(bad)).toBeNull();
    }
  });
});
