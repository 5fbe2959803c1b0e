// Large bodies: a 100 MB upload with its Content-Length and chunked, and a 100 MB download, on
// every target that serves the hello app; the time curl takes and the peak RSS (and its growth over
// the RSS before) of the front end and the workers. Rounds are capped at 3: each move is seconds.

import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { benchDir } from './apps.js';
import { ROUNDS, selected, type Row } from './common.js';
import { curlTransfer } from './load.js';
import { interleaved, rowsOf } from './measure.js';
import { servers, type Target } from './targets.js';

export const TRANSFER_BYTES = 100_000_000;

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
          const t = await curlTransfer(url, upload);
          const moved = upload ? Number(t.body.trim()) : t.downloaded;
          if (t.status !== 200 || moved !== TRANSFER_BYTES) {
            throw new Error(`${kind} ${target.name}: status ${t.status}, ${moved} bytes moved: ${t.body}`);
          }
          return { value: t.seconds };
        },
        { rounds: Math.min(ROUNDS, 3), sampleEveryMs: 50 },
      );
      rows.push(...rowsOf(kind, 's', measured));
    }
  }
  rows.push(...offloadedDownload());
  return rows;
}

/** 100 MB of random bytes in a temp file, written 1 MB at a time. */
function bodyFile(): string {
  const file = join(benchDir('body'), 'body.bin');
  const block = Buffer.alloc(1_000_000);
  const fd = openSync(file, 'w');
  for (let i = 0; i < TRANSFER_BYTES / block.length; i++) writeSync(fd, randomFillSync(block));
  closeSync(fd);
  return file;
}

/**
 * HOOK, not yet measured: a 1 GB download, streamed through wsgi-fcgi (sendfile = "none") next to
 * handed to the web server (the sendfile offload being built on another branch). When that lands:
 * give hello a ?file= route that returns wsgi.file_wrapper over a 1 GB file, two .wsgi files
 * differing only in `sendfile`, and measure them as above (time, front-end and worker RSS).
 */
function offloadedDownload(): Row[] {
  if (!selected('download-1g')) return [];
  return [
    {
      workload: 'download-1g',
      target: 'wsgikit streamed vs offloaded',
      value: NaN,
      unit: '',
      ratio: NaN,
      note: 'skipped: the sendfile offload is not on this branch yet (hook in bench/transfer.ts)',
    },
  ];
}
