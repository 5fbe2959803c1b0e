// What a workload measures: a target (a URL and the processes behind it), and the servers behind
// the targets, each started the first time a workload asks for it and stopped at the end.

import {
  startApacheCgi,
  startApacheFcgid,
  startApacheModWsgi,
  type CgiSide,
  type FcgidSide,
  type ModWsgiSide,
} from './apache.js';
import { log } from './common.js';
import { startNginxSide, type NginxSide } from './nginx.js';
import { startOffloadSide, type OffloadSide } from './offload.js';
import type { ProcessSet } from './proc-memory.js';

export interface Target {
  name: string;
  url: string;
  /** The target's front-end processes and Python workers right now. */
  processes(): ProcessSet;
}

const started: Array<{ stop(): Promise<void> }> = [];

function once<T extends { stop(): Promise<void> }>(what: string, start: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | null = null;
  return () => {
    if (!promise) {
      log(`starting ${what}`);
      promise = start().then((side) => {
        started.push(side);
        return side;
      });
    }
    return promise;
  };
}

export const servers = {
  nginx: once<NginxSide>('nginx + wsgi-fcgi + uWSGI', startNginxSide),
  offload: once<OffloadSide>('nginx + wsgi-fcgi with and without file offload', startOffloadSide),
  cgi: once<CgiSide>('Apache mod_cgid', startApacheCgi),
  fcgid: once<FcgidSide>('Apache mod_fcgid', startApacheFcgid),
  modWsgi: once<ModWsgiSide>('Apache mod_wsgi', startApacheModWsgi),
};

export async function stopServers(): Promise<void> {
  for (const side of started.splice(0).reverse()) {
    try {
      await side.stop();
    } catch (error) {
      log(`stopping: ${(error as Error).message}`);
    }
  }
}
