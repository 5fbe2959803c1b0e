// Browsers get an HTML page; curl, scripts and anything that asks for text/plain get plain text,
// which reads well in a terminal and in a test's output.

export type PageFormat = 'html' | 'text';

/**
 * `html` when the Accept header is missing or names HTML at least as strongly as plain text;
 * otherwise `text` (curl's and fetch's `*\/*` among them, since neither renders HTML).
 */
export function pageFormat(accept: string | undefined): PageFormat {
  if (accept === undefined || accept.trim() === '') return 'html';
  let html = 0;
  let text: number | undefined;
  let textWildcard = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const qParam = params.find((param) => param.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === 'text/html' || type === 'application/xhtml+xml') html = Math.max(html, q);
    else if (type === 'text/plain') text = Math.max(text ?? 0, q);
    else if (type === 'text/*' || type === '*/*') textWildcard = Math.max(textWildcard, q);
  }
  return html > 0 && html >= (text ?? textWildcard) ? 'html' : 'text';
}
