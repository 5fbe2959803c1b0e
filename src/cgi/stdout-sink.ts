// A ResponseSink writing a CGI response to the web server: our stdout.

import process from 'node:process';
import type { WsgikitError } from '../errors.js';
import type { ResponseHeaders, ResponseSink } from '../exchange.js';
import { failurePage, type PageView } from '../pages/error-page.js';
import { cgiResponseHead } from '../response-head.js';

export class StdoutSink implements ResponseSink {
  view: PageView = { owner: false };
  private _started = false;
  private answered: (() => void) | null = null;
  private readonly out: NodeJS.WriteStream;
  private readonly vars: Record<string, string>;

  constructor(out: NodeJS.WriteStream, vars: Record<string, string>) {
    this.out = out;
    this.vars = vars;
  }

  get started(): boolean {
    return this._started;
  }

  start(status: string, headers: ResponseHeaders): void {
    this._started = true;
    // Head and a short body leave in one write: the rest of this turn is corked.
    this.out.cork();
    process.nextTick(() => this.out.uncork());
    this.out.write(cgiResponseHead(status, headers));
  }

  write(chunk: Buffer): boolean {
    return this.out.write(chunk);
  }

  onDrain(callback: () => void): void {
    this.out.once('drain', callback);
  }

  end(): void {
    this.finish();
  }

  /** Called once when the answer is complete (ended or failed) and its bytes are with the kernel. */
  onAnswered(callback: () => void): void {
    this.answered = callback;
  }

  private finish(): void {
    const answered = this.answered;
    this.answered = null;
    if (answered) this.out.write('', () => answered());
  }

  fail(error: WsgikitError): void {
    // After the head there is no way to mark a CGI body incomplete: the server sees our exit.
    if (!this._started) {
      const page = failurePage(error, this.view, this.vars.HTTP_ACCEPT, this.vars.REQUEST_METHOD);
      this.start(page.statusLine, page.headers);
      if (page.body !== null) this.out.write(page.body);
    }
    this.finish();
  }

  onClose(callback: () => void): void {
    // The server closing our stdout is how CGI says the client went away.
    this.out.once('error', () => {
      callback();
      this.finish();
    });
  }
}
