// Imports the app the way the host will: the chosen Python, the bridge in persistent mode (the
// very code that serves requests), the environment suEXEC leaves (its whitelist, PATH set to
// AP_SAFE_PATH, no HOME) plus the settings' [env], the .wsgi's folder as cwd, and with the host's
// chroot, inside it (started as the pool starts a worker). Times the import and reports a failure
// with the bridge's summary and the head of the traceback.

import path from 'node:path';
import { chrootCommand, type AppChroot } from '../app/chroot.js';
import { SAFE_PATH } from '../app/python.js';
import { AppLoadError } from '../errors.js';
import { BridgeProcess } from '../python-bridge/bridge-process.js';
import { isWsgikitError } from '../errors.js';
import { shellQuote } from '../os/shell-quote.js';
import { within } from '../time-limit.js';
import { finding, type Finding } from './types.js';

export interface ImportReport {
  ok: boolean;
  /** The bridge's own import time, ms. */
  ms: number | null;
  version: string | null;
  implementation: string | null;
  /** On failure: the bridge's kind (syntax, import, no-application, …) and summary. */
  kind: string | null;
  summary: string | null;
  traceback: string | null;
  /** Names of the variables the app got (values may be secrets). */
  env: string[];
  /** The chroot folder it ran in, or null: none. */
  chroot: string | null;
}

/**
 * The environment a CGI app starts with under suEXEC, less the request's own variables (which the
 * import cannot depend on): PATH = AP_SAFE_PATH, no HOME, nothing from this shell, then [env].
 */
export function hostEnvironment(
  settingsEnv: Record<string, string>,
  safePath: readonly string[] = SAFE_PATH,
): Record<string, string> {
  const env: Record<string, string> = { PATH: safePath.join(':') };
  return Object.assign(env, settingsEnv);
}

const TRACEBACK_LINES = 12;

export async function importApp(
  appFile: string,
  python: string,
  env: Record<string, string>,
  timeoutSeconds: number,
  /** The user to import as (wsgi-check run as root for another user): real and effective ids. */
  user: { uid: number; gid: number } | null = null,
  /** The host's chroot (python is then a path inside it). */
  chroot: AppChroot | null = null,
): Promise<{ report: ImportReport; findings: Finding[] }> {
  const output: string[] = [];
  const report: ImportReport = {
    ok: false,
    ms: null,
    version: null,
    implementation: null,
    kind: null,
    summary: null,
    traceback: null,
    env: Object.keys(env).sort(),
    chroot: chroot?.dir ?? null,
  };
  const bridge = BridgeProcess.start({
    python,
    appFile,
    mode: 'persistent',
    env,
    ...(user === null ? {} : { uid: user.uid, gid: user.gid }),
    ...(chroot === null ? {} : { chroot }),
    onOutput: (_stream, line) => {
      if (output.length < 200) output.push(line);
    },
  });
  try {
    const result = await within(bridge.ready, timeoutSeconds * 1000);
    if (result === null) {
      report.kind = 'timeout';
      report.summary = `the import did not finish within ${timeoutSeconds} s`;
      return {
        report,
        findings: [
          finding(
            'import.timeout',
            'error',
            appFile,
            `Importing the app took longer than startup_timeout (${timeoutSeconds} s); the host would give up the same way.` +
              tail(output),
            `make the import faster (defer work to the first request), or raise startup_timeout in ${path.basename(appFile)}.toml`,
          ),
        ],
      };
    }
    report.ok = true;
    report.ms = result.importMs;
    report.version = result.version;
    report.implementation = result.implementation;
    return { report, findings: [] };
  } catch (error) {
    if (!isWsgikitError(error)) throw error;
    report.summary = error.message;
    report.traceback = error.ownerDetail ?? null;
    if (error instanceof AppLoadError) {
      report.kind = error.loadKind;
      const tb = (error.ownerDetail ?? '').trimEnd().split('\n').slice(-TRACEBACK_LINES);
      return {
        report,
        findings: [
          finding(
            `import.${error.loadKind}`,
            'error',
            appFile,
            `The app fails to load: ${error.message}` + (tb.join('') === '' ? '' : `\n${tb.join('\n')}`),
            loadFix(error.loadKind, error.message, appFile, python),
          ),
        ],
      };
    }
    report.kind = 'start-failed';
    const start = chroot === null ? { command: python, args: [] } : chrootCommand(chroot, [python]);
    return {
      report,
      findings: [
        finding(
          'import.start-failed',
          'error',
          appFile,
          `${python}${chroot === null ? '' : ` in the chroot ${chroot.dir}`} could not start the bridge: ${error.message}${tail(output)}`,
          `${[start.command, ...start.args].map(shellQuote).join(' ')} -c pass   (run it by hand to see why)`,
        ),
      ],
    };
  } finally {
    bridge.stop();
    if ((await within(bridge.exited, 3000)) === null) bridge.kill();
  }
}

function loadFix(kind: string, summary: string, appFile: string, python: string): string {
  const name = path.basename(appFile);
  switch (kind) {
    case 'syntax': {
      return `correct the line named above, then check with: ${shellQuote(python)} -m py_compile ${shellQuote(appFile)}`;
    }
    case 'import': {
      const m = /No module named '([^'.]+)/.exec(summary);
      return m
        ? `${shellQuote(python)} -m pip install ${m[1]}   (into the Python the app runs on; a venv beside ${name} is used first)`
        : `install what the traceback names into ${python}, or add its folder to sys.path at the top of ${name}`;
    }
    case 'no-application':
      return `define application in ${name}, e.g. "from myproject.wsgi import application" or "application = app" (Flask)`;
    case 'not-callable':
      return `make application in ${name} the WSGI callable itself (Flask: application = app; Django: get_wsgi_application())`;
    default:
      return `check that ${appFile} is a readable Python file`;
  }
}

function tail(lines: string[]): string {
  const last = lines.slice(-6);
  return last.length === 0 ? '' : `\nIts output:\n${last.join('\n')}`;
}
