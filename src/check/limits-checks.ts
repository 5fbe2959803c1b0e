// The servers' own request-body limits, which reject an upload before wsgikit sees it: mod_fcgid's
// FcgidMaxRequestLen (131072 bytes since 2.3.6), nginx's client_max_body_size (1m) and Apache's
// LimitRequestBody (1 GiB since 2.4.54). When the app's max_body_mb is above one, that server
// answers 413 (or 500) first. They bite on FastCGI hosts (--mode fcgi: warnings); on a CGI host
// they are notes.

import path from 'node:path';
import { sidecarPath } from '../app/settings.js';
import { finding, type CheckContext, type Finding } from './types.js';

export const FCGID_MAX_REQUEST_LEN = 131_072;
export const NGINX_CLIENT_MAX_BODY = 1024 * 1024;
export const APACHE_LIMIT_REQUEST_BODY = 1024 * 1024 * 1024;

export function limitsChecks(ctx: CheckContext): Finding[] {
  if (ctx.settings === null || ctx.real === null) return [];
  const max = ctx.settings.maxBodyBytes; // 0: no limit
  const toml = path.basename(sidecarPath(ctx.real));
  const shown = max === 0 ? 'no limit (max_body_mb = 0)' : `max_body_mb = ${fmtMiB(max)}`;
  const above = (limit: number) => max === 0 || max > limit;
  const sev = ctx.mode === 'fcgi' ? 'warning' : 'info';
  const bytes = max === 0 ? 0 : max;
  const out: Finding[] = [];
  if (above(FCGID_MAX_REQUEST_LEN) && ctx.mode !== 'cgi' && ctx.mode !== 'suexec' && ctx.mode !== 'cgiwrap') {
    out.push(
      finding(
        'limits.fcgid-max-request-len',
        sev,
        'max_body_mb',
        `The app accepts ${shown}, but Apache mod_fcgid rejects bodies over FcgidMaxRequestLen, 128 KiB by default: ` +
          'uploads above that fail with a 500 before they reach the app.',
        `FcgidMaxRequestLen ${bytes === 0 ? 1073741824 : bytes}   (Apache config, server or vhost; or lower max_body_mb in ${toml})`,
      ),
    );
  }
  if (above(NGINX_CLIENT_MAX_BODY) && ctx.mode !== 'cgi' && ctx.mode !== 'suexec' && ctx.mode !== 'cgiwrap') {
    out.push(
      finding(
        'limits.nginx-client-max-body-size',
        sev,
        'max_body_mb',
        `The app accepts ${shown}, but nginx rejects bodies over client_max_body_size, 1 MiB by default, with its own 413.`,
        `client_max_body_size ${max === 0 ? '0' : `${Math.ceil(max / (1024 * 1024))}m`};   (nginx server or location block)`,
      ),
    );
  }
  if (above(APACHE_LIMIT_REQUEST_BODY) && ctx.mode !== 'fcgi') {
    out.push(
      finding(
        'limits.apache-limit-request-body',
        'info',
        'max_body_mb',
        `The app accepts ${shown}, but Apache 2.4.54 and later reject bodies over LimitRequestBody, 1 GiB by default.`,
        `LimitRequestBody ${max}   (Apache config or .htaccess; 0 = no limit)`,
      ),
    );
  }
  return out;
}

function fmtMiB(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? String(mib) : mib.toFixed(2);
}
