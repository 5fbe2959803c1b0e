// Injected into the CommonJS bundle of the CGI entry: gives bundled ESM code its import.meta.url.
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
