// A bounded wait whose running out is an answer of its own: the check's import, the bridge's exit
// after it, the daemon's answer to wsgi-check --start.

/** What `promise` settles with, or null when `ms` pass first; a rejection passes through. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(resolve, ms, null)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
