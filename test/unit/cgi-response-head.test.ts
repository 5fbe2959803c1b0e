import { describe, expect, it } from 'vitest';
import { cgiResponseHead } from '../../src/response-head.js';

const head = (status: string, headers: Array<[string, string]>) => cgiResponseHead(status, headers).toString('latin1');

describe('cgiResponseHead', () => {
  it('writes Status and every header, CRLF-terminated, bytes as latin-1', () => {
    expect(
      head('404 Not Found', [
        ['Content-Type', 'text/plain'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
        ['X-Name', 'caf\u00e9'],
      ]),
    ).toBe(
      'Status: 404 Not Found\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Name: caf\u00e9\r\n\r\n',
    );
    expect(cgiResponseHead('200 OK', [['X-Name', 'caf\u00e9']]).includes(0xe9)).toBe(true);
  });

  it('turns a bodiless 200 with a local Location into a CGI local redirect (no Status line)', () => {
    expect(head('200 OK', [['Location', '/other/page']])).toBe('Location: /other/page\r\n\r\n');
    expect(
      head('200 OK', [
        ['location', '/x'],
        ['Content-Length', '0'],
      ]),
    ).toBe('Location: /x\r\n\r\n');
  });

  it('keeps real redirects, absolute Locations and 200s with a body as they are', () => {
    expect(head('302 Found', [['Location', '/x']])).toBe('Status: 302 Found\r\nLocation: /x\r\n\r\n');
    expect(head('200 OK', [['Location', 'https://example.org/']])).toMatch(/^Status: 200 OK\r\n/);
    expect(
      head('200 OK', [
        ['Location', '/x'],
        ['Content-Length', '5'],
      ]),
    ).toMatch(/^Status: 200 OK\r\n/);
  });

  it('gives a repeated head the same bytes, and a new status its own with the same headers', () => {
    const headers: Array<[string, string]> = [['Content-Type', 'text/plain']];
    const first = cgiResponseHead('200 OK', headers);
    expect(cgiResponseHead('200 OK', headers)).toBe(first); // made once, written out again
    expect(cgiResponseHead('404 Not Found', headers).toString('latin1')).toBe(
      'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n',
    );
    expect(cgiResponseHead('200 OK', [['Content-Type', 'text/html']]).toString('latin1')).toBe(
      'Status: 200 OK\r\nContent-Type: text/html\r\n\r\n',
    );
  });
});
