// wsgi-run --layout: each local request is presented as the layout's server would present it
// (src/environ/layouts.ts), then decided as a host decides it (decide-request.ts): the developer
// sees locally what the app will see there, and the explain lines say why.

import { isWsgikitError } from '../errors.js';
import type { AppRequest, ResponseSink } from '../exchange.js';
import { layoutVars, type LayoutName } from '../environ/layouts.js';
import type { ServedApp } from '../pool/app-directory.js';
import { decideRequest, type FrontEnd } from './decide-request.js';

/**
 * The request handler of wsgi-run --layout for its one app, `served` (resolved with
 * `explain = true`): `say` prints the explain lines on the terminal.
 */
export function layoutHandler(
  layout: LayoutName,
  served: ServedApp,
  say: (line: string) => void,
): (request: AppRequest, sink: ResponseSink) => void {
  const appFile = served.resolved.checked.file;
  const frontEnd: FrontEnd<ServedApp> = {
    lookup: () => served,
    noAppFix: 'name the .wsgi on the command line of wsgi-run.',
    everyoneIsOwner: true,
  };
  return (request, sink) => {
    let decision;
    try {
      decision = decideRequest(layoutVars(layout, request.environ, appFile), appFile, false, frontEnd);
    } catch (error) {
      if (!isWsgikitError(error)) throw error;
      sink.fail(error);
      return;
    }
    for (const line of decision.explain ?? []) say(`  explain: ${line}`);
    served.pool.handle({ ...request, environ: decision.environ, owner: decision.owner }, sink);
  };
}
