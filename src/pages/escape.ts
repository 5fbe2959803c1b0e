// Every string on an error page may come from the app or the request (a traceback quoting user
// input, a Host header as the site name), so each one passes through here before it is shown.

// C0 controls but tab, LF and CR; DEL; C1 controls. None belongs in a page, and in a terminal
// (curl printing a text page) they could move the cursor or recolour what follows.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Control characters become U+FFFD so that what was there stays visible as "something". */
export function withoutControls(text: string): string {
  return text.replace(CONTROL, '\uFFFD');
}

export function escapeHtml(text: string): string {
  return withoutControls(text).replace(/[&<>"']/g, (char) => HTML_ENTITIES[char]!);
}
