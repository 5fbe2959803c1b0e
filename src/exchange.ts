// The shapes every front end (CGI, FastCGI, HTTP) translates its protocol into and out of. Nothing
// past a front end knows which protocol a request arrived by.

import type { Readable } from 'node:stream';
import type { WsgikitError } from './errors.js';

/**
 * CGI-style variables of one request (REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING,
 * CONTENT_TYPE, CONTENT_LENGTH, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, HTTP_*, …), already
 * repaired by src/environ/. Values are "byte strings": every character is one byte (0–255), the
 * PEP 3333 latin-1 convention, so they cross to Python without a second decoding. No value holds NUL.
 */
export type Environ = Record<string, string>;

export interface AppRequest {
  environ: Environ;
  /** The request body as a byte stream, or null when there is none. Read with backpressure. */
  body: Readable | null;
  /** The declared body length, or null when the body is delimited by its end (chunked). */
  contentLength: number | null;
  /** Whether this client may see tracebacks and owner-only detail on error pages. */
  owner: boolean;
  /** The host's error pages, when host.toml sets error_pages (override_app_errors acts in the Job). */
  hostPages?: HostPageTemplates | undefined;
  /**
   * `environ` as NAME, VALUE, NAME, VALUE… in order, when the front end has it at hand (a repeated
   * name counts with its last value): the bridge's R frame is then joined from it rather than
   * built by walking the object.
   */
  environFields?: readonly string[] | undefined;
}

/** What goes into a host error page template. */
export type PageValues = { status: number; title: string; incident?: string | undefined; site?: string | undefined };

/** The host's error page templates as a request carries them; src/pages/host-pages.ts reads them. */
export interface HostPageTemplates {
  readonly overrideAppErrors: boolean;
  /** The host's page for a status, or null: use the built-in page. Never throws. */
  render(values: PageValues): Buffer | null;
}

/**
 * A response's headers as (name, value) pairs. Never changed once given to a sink: the bridge hands
 * the same array for a head its app repeats, and what is made of it may be kept (response-head.ts).
 */
export type ResponseHeaders = ReadonlyArray<readonly [string, string]>;

/** Where a response goes. Implemented by each front end; driven by the pool. */
export interface ResponseSink {
  /** Status line ("200 OK") and headers, exactly once, before any body. */
  start(status: string, headers: ResponseHeaders): void;
  /** Returns false when the client is not keeping up; wait for `onDrain` before writing more. */
  write(chunk: Buffer): boolean;
  onDrain(callback: () => void): void;
  end(): void;
  /**
   * The request failed. Before `start` the front end answers with the error's page; after it, the
   * response is cut off so the client cannot mistake it for a complete one.
   */
  fail(error: WsgikitError): void;
  /** Called once if the client goes away before `end` or `fail`. */
  onClose(callback: () => void): void;
  readonly started: boolean;
}
