// A ResponseSink over a node:http ServerResponse.

import process from 'node:process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WsgikitError } from '../errors.js';
import type { ResponseHeaders, ResponseSink } from '../exchange.js';
import { failurePage, type PageView } from '../pages/error-page.js';

export class HttpSink implements ResponseSink {
  status = 0;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly view: PageView;
  private drainWaiters: Array<() => void> = [];
  private readonly drained = (): void => {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const callback of waiters) callback();
  };

  constructor(req: IncomingMessage, res: ServerResponse, view: PageView) {
    this.req = req;
    this.res = res;
    this.view = view;
  }

  get started(): boolean {
    return this.res.headersSent;
  }

  start(status: string, headers: ResponseHeaders): void {
    const space = status.indexOf(' ');
    this.status = Number(status.slice(0, 3));
    const flat: string[] = [];
    for (const [name, value] of headers) flat.push(name, value);
    this.res.writeHead(this.status, space === -1 ? '' : status.slice(space + 1), flat);
  }

  write(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onDrain(callback: () => void): void {
    if (this.res.writableEnded || this.res.destroyed) {
      process.nextTick(callback);
      return;
    }
    if (this.drainWaiters.length === 0) this.res.once('drain', this.drained);
    this.drainWaiters.push(callback);
  }

  end(): void {
    this.res.end();
    // An ended response never emits 'drain'. A waiter left over from the last write (the bridge,
    // about to read the worker's last frames) would keep the worker busy for good: let it go on.
    if (this.drainWaiters.length > 0) {
      this.res.removeListener('drain', this.drained);
      process.nextTick(this.drained);
    }
  }

  fail(error: WsgikitError): void {
    if (this.res.headersSent) {
      // Cut the connection: a truncated body must not look complete to the client.
      this.status = this.status || error.status;
      this.res.destroy();
      return;
    }
    const page = failurePage(error, this.view, this.req.headers.accept, this.req.method);
    this.status = page.status;
    const flat: string[] = [];
    for (const [name, value] of page.headers) flat.push(name, value);
    this.res.writeHead(page.status, flat);
    this.res.end(page.body ?? undefined);
  }

  onClose(callback: () => void): void {
    this.res.once('close', () => {
      if (!this.res.writableFinished) callback();
    });
  }
}
