// wsgi-check's output: problems first, grouped by family, each with its fix; then notes; then a
// short account of what was found fine. --json gives the same as one object for panels and scripts.

import { describeTarget } from './identity.js';
import type { CheckResult } from './run-check.js';
import type { Finding } from './types.js';

const FAMILY_TITLE: Record<string, string> = {
  app: 'The .wsgi file (wsgikit refuses these on every host)',
  settings: 'Settings',
  chroot: 'The chroot (host setting chroot)',
  python: 'Python',
  import: 'Importing the app',
  suexec: 'suEXEC',
  shebang: 'The first line (#!)',
  stub: 'The entry stub',
  cgiwrap: 'cgiwrap',
  log: 'The app log',
  daemon: 'CGI daemon',
  limits: 'Server limits',
  sendfile: 'Files sent by the web server (host setting sendfile)',
  docroot: 'Document root',
};

export function modeLabel(result: CheckResult): string {
  switch (result.mode) {
    case null:
      return 'any CGI host: suEXEC and cgiwrap rules as warnings (--mode chooses)';
    case 'suexec':
      return 'Apache with suEXEC: its rules are errors';
    case 'cgiwrap':
      return 'cgiwrap: its rules are errors';
    case 'cgi':
      return 'plain CGI, no wrapper';
    case 'fcgi':
      return 'FastCGI (mod_fcgid, nginx): body limits are warnings';
  }
}

export function formatText(result: CheckResult): string {
  const lines: string[] = [];
  lines.push(`wsgi-check ${result.app}`);
  lines.push(`  as:   ${describeTarget(result.target)}: ${result.target.why}`);
  lines.push(`  host: ${modeLabel(result)}`);
  lines.push('');

  const problems = result.findings.filter((f) => f.severity !== 'info');
  const notes = result.findings.filter((f) => f.severity === 'info');
  if (problems.length > 0) {
    lines.push('Problems');
    let family = '';
    for (const f of problems) {
      const fam = f.id.split('.')[0] ?? '';
      if (fam !== family) {
        family = fam;
        lines.push(`  ${FAMILY_TITLE[fam] ?? fam}`);
      }
      lines.push(...formatFinding(f));
    }
    lines.push('');
  }
  if (notes.length > 0) {
    lines.push('Notes');
    for (const f of notes) lines.push(...formatFinding(f));
    lines.push('');
  }

  lines.push('Found');
  const p = result.python;
  if (p.path !== null) {
    const version = p.version === null ? 'version unknown' : `${p.implementation ?? 'Python'} ${p.version}`;
    lines.push(`  Python:   ${p.path}, ${version}; chosen by ${p.reason}`);
  }
  const imp = result.import;
  if (imp !== null) {
    const inside = imp.chroot === null ? '' : `, inside the chroot ${imp.chroot}`;
    lines.push(
      imp.ok
        ? `  Import:   ok, ${imp.ms === null ? '?' : imp.ms.toFixed(0)} ms${inside} (environment as under suEXEC: ${imp.env.join(', ')})`
        : `  Import:   FAILED (${imp.kind ?? 'error'})${inside}`,
    );
  }
  const jail = result.chroot;
  if (jail !== null) {
    const folder = jail.folder ?? `unknown (chroot = ${JSON.stringify(jail.pattern)})`;
    const real = jail.dir !== null && jail.dir !== jail.folder ? `, really ${jail.dir}` : '';
    lines.push(
      `  Chroot:   ${folder}${real}: ${jail.ok ? "the app's workers run in it" : 'REFUSED, see the problems above'}`,
    );
  }
  lines.push(`  Files:    ${result.sendfile.summary}`);
  if (result.log.file !== null) {
    const where =
      result.log.underDocroot === null ? '' : result.log.underDocroot ? ', UNDER the docroot' : ', outside the docroot';
    const w = result.log.writable === false ? 'NOT writable' : 'writable';
    lines.push(`  Log:      ${result.log.file} (${w}${where})`);
  }
  lines.push(`  Docroot:  ${result.docroot.path ?? 'unknown'} (${result.docroot.why})`);
  const prog = result.program;
  if (prog.kind === 'shebang') lines.push(`  Program:  ${prog.program} itself (${prog.shebang})`);
  else if (prog.kind === 'stub') lines.push(`  Program:  the stub ${prog.program} (${prog.how})`);
  if (result.settings !== null) {
    lines.push(
      `  CGI:      ${result.settings.cgiDaemon ? "daemon mode: the first request starts the user's daemon, later ones reuse it" : 'one-shot: one Python process per request (cgi_daemon = false)'}`,
    );
    lines.push(
      `  Settings: ${result.settings.source ?? 'none (built-in defaults)'}${result.hostSettings ? `, host ${result.hostSettings}` : ''}`,
    );
  }
  lines.push('');
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  const warnings = result.findings.filter((f) => f.severity === 'warning').length;
  lines.push(
    errors + warnings === 0
      ? 'No problems found.'
      : `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}.`,
  );
  return lines.join('\n') + '\n';
}

function formatFinding(f: Finding): string[] {
  const label = f.severity === 'error' ? 'ERROR  ' : f.severity === 'warning' ? 'WARNING' : 'note   ';
  const [first = '', ...rest] = f.message.split('\n');
  const out = [`    ${label} ${first}  [${f.id}]`];
  for (const line of rest) out.push(`            ${line}`);
  if (f.fix !== null) out.push(`            fix: ${f.fix}`);
  return out;
}

export function toJson(result: CheckResult, extra: Record<string, unknown> = {}): string {
  const body = {
    ok: result.ok,
    app: result.app,
    findings: result.findings,
    target: result.target,
    mode: result.mode ?? 'any',
    docroot: result.docroot,
    program: result.program,
    hostSettings: result.hostSettings,
    settings: result.settings,
    python: result.python,
    import: result.import,
    log: result.log,
    chroot: result.chroot,
    sendfile: result.sendfile,
    ...extra,
  };
  return JSON.stringify(body, null, 2) + '\n';
}
