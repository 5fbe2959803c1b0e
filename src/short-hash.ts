// A stable short name for a path (log files, daemon sockets): two 32-bit FNV-1a hashes with
// different offsets, 16 hex digits. Not a secret and not an integrity check, so no node:crypto on
// the per-request path for it.

export function shortHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}
