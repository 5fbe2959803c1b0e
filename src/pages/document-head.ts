// The start of every HTML page wsgikit writes, up to </head>: one place for what all of them need
// (UTF-8, a mobile viewport, no indexing of error and status pages).

import { escapeHtml } from './escape.js';

/** Lines from `<!doctype html>` to `</head>`; `extra` lines go before the title. */
export function documentHead(title: string, style: string, extra: readonly string[] = []): string[] {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="robots" content="noindex">',
    ...extra,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${style}</style>`,
    '</head>',
  ];
}
