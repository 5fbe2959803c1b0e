// The one-shot half of a CGI request: the app runs in a Python process started for this request
// alone. Loaded only when a request takes this path (cgi_daemon = false, no daemon to be had, or a
// status URL), so a request relayed to a daemon never loads the pool, the bridge or child_process.

import type { ResolvedApp } from '../app/resolve-app.js';
import { appEnvironment, appOffloadPolicy, openAppLog } from '../app/resolve-app.js';
import type { HostSettings } from '../app/settings.js';
import type { AppRequest } from '../exchange.js';
import { stderrOpsLog } from '../ops-log.js';
import { answerStatusRoute } from '../pages/status-route.js';
import { Pool } from '../pool/pool.js';
import type { StdoutSink } from './stdout-sink.js';

export async function runOneShot(
  resolved: ResolvedApp,
  host: HostSettings,
  request: AppRequest,
  sink: StdoutSink,
  baseEnv: NodeJS.ProcessEnv,
  daemonProblem: string | null,
): Promise<void> {
  const { settings, checked, python } = resolved;
  const answered = new Promise<void>((resolve) => sink.onAnswered(resolve));
  // No pool outlives this request, so the status URLs can only say there is none to show.
  if (answerStatusRoute(request, null, settings.ownerTokenSha256, sink, resolved.ownerNotes)) {
    await answered;
    return;
  }

  // The same pool as everywhere, one process for this one request.
  const appLog = openAppLog(resolved);
  if (daemonProblem) {
    appLog.write('wsgikit', `daemon mode unavailable (${daemonProblem}); this request runs in a one-shot process`);
  }
  const pool = new Pool({
    appFile: checked.file,
    python: python.path,
    env: appEnvironment(baseEnv, settings),
    limits: { ...settings, processes: 1 },
    log: appLog,
    ops: stderrOpsLog('wsgi-cgi'),
    oneshot: true,
    chroot: resolved.chroot,
    offload: appOffloadPolicy(resolved, host),
  });
  pool.handle(request, sink);
  await answered;
  await pool.close();
}
