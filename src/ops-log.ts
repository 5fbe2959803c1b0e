// The front ends' own operational log: structured, for the server's log, not the site owner's.
// pino's call shape (`log.info(fields, message)`), so production passes a pino logger straight in
// and wsgi-run passes a terminal printer. pino itself loads only when asked for: its start-up
// cost is more than the per-request CGI entry can afford.

import process from 'node:process';
import { writeSync } from 'node:fs';

export interface OpsLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const silentOpsLog: OpsLog = { info() {}, warn() {}, error() {} };

/**
 * pino's line format written straight to stderr, for the per-request CGI entry, which cannot pay
 * pino's start-up. Each line is one synchronous write, so lines of concurrent processes never mix.
 */
export function stderrOpsLog(name: string): OpsLog {
  const line = (level: number) => (fields: object, msg: string) => {
    writeSync(2, JSON.stringify({ level, time: Date.now(), pid: process.pid, name, ...fields, msg }) + '\n');
  };
  return { info: line(30), warn: line(40), error: line(50) };
}

/** Where pino's lines may go besides stderr: the CGI daemon's own log (an AppLog's writeRaw). */
export interface LineSink {
  write(line: string): void;
}

/**
 * A pino logger writing JSON lines to stderr (the web server's error log for CGI and FastCGI), or
 * to `sink`.
 */
export async function pinoOpsLog(name: string, sink?: LineSink): Promise<OpsLog> {
  const { pino } = await import('pino');
  const logger = pino({ name, base: { pid: process.pid } }, sink ?? pino.destination({ fd: 2, sync: true }));
  return {
    info: (fields, message) => logger.info(fields, message),
    warn: (fields, message) => logger.warn(fields, message),
    error: (fields, message) => logger.error(fields, message),
  };
}
