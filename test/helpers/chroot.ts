// What the chroot tests need to know about this machine (docs/chroot.md).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BUILD_CHROOT = fileURLToPath(new URL('../../scripts/build-chroot.sh', import.meta.url));

/** Why a chroot cannot be built and entered here, or null (as root, with unprivileged user namespaces). */
export function chrootUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (to create a user, build a chroot and bind-mount a home)';
  if (!existsSync('/usr/bin/unshare') || !existsSync('/usr/bin/python3')) return 'needs /usr/bin/unshare and python3';
  // The mechanism itself: may an unprivileged user create a user namespace and chroot in it?
  const probe = spawnSync('setpriv', [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    '/usr/bin/unshare',
    '--user',
    '--map-current-user',
    '--root=/',
    '/bin/true',
  ]);
  return probe.status === 0 ? null : 'unprivileged user namespaces are disabled on this kernel';
}
