// The host's chroot (docs/chroot.md): what a pool start would refuse, found by the very checks it
// runs (inspectChroot in src/app/chroot.ts), each reported with its fix instead of only the first.
// The Python is chosen inside the chroot by python-checks.ts and the import runs in it
// (import-check.ts), both through the code the pool uses.

import { inspectChroot, type ChrootInspection } from '../app/chroot.js';
import type { HostSettings } from '../app/settings.js';
import { finding, findingText, type Finding, type Target } from './types.js';

/** The chroot the host's setting gives this app and user, or null when the host sets none. */
export function chrootFor(host: HostSettings, appFile: string, target: Target): ChrootInspection | null {
  if (host.chroot === null) return null;
  return inspectChroot(host.chroot, appFile, target.uid, host.source);
}

export function chrootChecks(inspection: ChrootInspection | null): Finding[] {
  if (inspection === null) return [];
  return inspection.problems.map((p) => {
    const { message, fix } = findingText(p.error);
    return finding(`chroot.${p.check}`, 'error', p.subject, message, fix);
  });
}

/** python.not-found inside a chroot: the fix also says how to put that Python there. */
export function chrootPythonFinding(dir: string, message: string, fix: string | null): Finding {
  const add = `as root, copy that Python into the chroot: scripts/build-chroot.sh ${dir} PYTHON (its path inside, as named above)`;
  return finding('chroot.python-missing', 'error', dir, message, fix === null ? add : `${add}; or ${fix}`);
}
