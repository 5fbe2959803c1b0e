// Large bodies: a 100 MB upload with its Content-Length and chunked, and a 100 MB download, on
// every target that serves the hello app; the time curl takes and the peak RSS (and its growth over
// the RSS before) of the front end and the workers. Rounds are capped at 3: each move is seconds.
// Then a 1 GiB file through nginx, streamed by wsgikit or handed to nginx (bench/offload.ts).

import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { benchDir } from './apps.js';
import { ROUNDS, selected, type Row } from './common.js';
import { curlTransfer } from './load.js';
import { interleaved, rowsOf } from './measure.js';
import type { FileVia } from './offload.js';
import { servers, type Target } from './targets.js';

export const TRANSFER_BYTES = 100_000_000;
export const FILE_BYTES = 1024 ** 3;
/** How the 1 GiB download's workloads are named, by how the app names the file. */
export const DOWNLOAD_1G: Record<FileVia, string> = {
  'X-Sendfile': 'download-1g (X-Sendfile)',
  'wsgi.file_wrapper': 'download-1g (wsgi.file_wrapper)',
};
/** Rounds of the large transfers. */
const TRANSFER_ROUNDS = Math.min(ROUNDS, 3);

export async function benchTransfer(): Promise<Row[]> {
  const rows: Row[] = [];
  const kinds = (['upload', 'upload-chunked', 'download'] as const).filter((k) => selected(k));
  if (kinds.length > 0) {
    const nginx = await servers.nginx();
    const targets: Target[] = [
      nginx.uwsgi('hello'),
      nginx.wsgikit('hello'),
      (await servers.fcgid()).target('hello'),
      (await servers.cgi()).target('daemon', 'hello'),
      (await servers.modWsgi()).target('hello'),
    ];
    const file = kinds.some((k) => k.startsWith('upload')) ? bodyFile() : '';
    for (const kind of kinds) {
      const measured = await interleaved(
        kind,
        targets,
        async (target) => {
          const upload = kind === 'download' ? undefined : { file, chunked: kind === 'upload-chunked' };
          const url = `${target.url}?${upload ? 'upload' : `download=${TRANSFER_BYTES}`}`;
          const t = await curlTransfer(url, { upload });
          const moved = upload ? Number(t.body.trim()) : t.downloaded;
          if (t.status !== 200 || moved !== TRANSFER_BYTES) {
            throw new Error(`${kind} ${target.name}: status ${t.status}, ${moved} bytes moved: ${t.body}`);
          }
          return { value: t.seconds };
        },
        { rounds: TRANSFER_ROUNDS, sampleEveryMs: 50 },
      );
      rows.push(...rowsOf(kind, 's', measured));
    }
  }
  if (selected('download-1g')) rows.push(...(await fileDownload()));
  return rows;
}

/** `bytes` random bytes in a file (real blocks, not a sparse file), written a block at a time. */
function randomFile(file: string, bytes: number, block = Buffer.alloc(1_000_000)): string {
  const fd = openSync(file, 'w', 0o644);
  try {
    for (let left = bytes; left > 0; left -= block.length) {
      writeSync(fd, randomFillSync(block), 0, Math.min(left, block.length));
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

/** 100 MB of random bytes in a temp file. */
function bodyFile(): string {
  return randomFile(join(benchDir('body'), 'body.bin'), TRANSFER_BYTES);
}

/**
 * A 1 GiB file downloaded through nginx, named by X-Sendfile and by wsgi.file_wrapper: streamed by
 * wsgikit (sendfile = "none") and handed to nginx (x-accel-redirect). curl to /dev/null, each
 * transfer bounded at 5 minutes; the file is removed afterwards. Rows per way of naming the file,
 * the streamed one the reference.
 */
async function fileDownload(): Promise<Row[]> {
  const side = await servers.offload();
  const file = join(side.files, 'big.bin');
  try {
    randomFile(file, FILE_BYTES, Buffer.alloc(1024 * 1024));
    const ways = Object.keys(DOWNLOAD_1G) as FileVia[];
    const targets = ways.flatMap((via) => [side.target('none', via, file), side.target('x-accel-redirect', via, file)]);
    const measured = await interleaved(
      'download-1g',
      targets,
      async (target) => {
        const t = await curlTransfer(target.url, { discard: true, maxSeconds: 300 });
        if (t.status !== 200 || t.downloaded !== FILE_BYTES) {
          throw new Error(`download-1g ${target.name}: status ${t.status}, ${t.downloaded} bytes: ${t.body}`);
        }
        return { value: t.seconds };
      },
      { rounds: TRANSFER_ROUNDS, sampleEveryMs: 50 },
    );
    return ways.flatMap((via, i) => rowsOf(DOWNLOAD_1G[via], 's', measured.slice(2 * i, 2 * i + 2)));
  } finally {
    rmSync(file, { force: true });
  }
}
