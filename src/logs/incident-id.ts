// Incident ids tie a plain error page to the lines in the app's log. A visitor reads one out over
// the phone or pastes it into an email, and the owner greps for it, so it uses Crockford's base32
// (no I, L, O or U to misread) in short groups.

import { lazyCrypto } from '../lazy-builtins.js';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A new id like `K7Q2-M9XD-4T`: 10 random base32 characters (50 bits), so two incidents of one
 * site share an id with odds of about one in a billion even after tens of thousands of them.
 */
export function newIncidentId(): string {
  const bytes = lazyCrypto().randomBytes(10);
  let chars = '';
  // 256 is a multiple of 32, so the low five bits of a random byte are uniform.
  for (const byte of bytes) chars += CROCKFORD[byte & 31];
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
}

/** Matches exactly one id as `newIncidentId` writes it. */
export const INCIDENT_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$/;
