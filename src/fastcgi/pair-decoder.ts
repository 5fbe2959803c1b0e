// Incremental decoder of FastCGI name-value pairs (PARAMS, GET_VALUES). PARAMS is one byte stream
// across records: libfcgi (cgi-fcgi) cuts it into 8,184-byte records with no regard for pair
// boundaries, so a length or a value may be split anywhere. `write` takes each record's content
// as it arrives and decodes every pair that is complete; only the incomplete tail is copied.
//
// Strings are latin-1, one character per byte (PEP 3333 byte strings), so they cross to Python
// unchanged.
//
// NUL: a name or value holding a NUL byte is dropped, not refused. No web server puts NUL in a
// variable (HTTP forbids it in headers), environ values must not hold it (exchange.ts), and the
// bridge protocol separates fields with it. Dropping keeps one odd variable from costing the whole
// connection; the names of dropped pairs are kept in `dropped` so the front end can log them or
// answer 400.

import { Buffer } from 'node:buffer';
import { WsgikitError } from '../errors.js';

export interface PairLimits {
  /** Most bytes of encoded pairs one request may send (default 1 MiB). */
  maxBytes?: number;
  /** Most pairs one request may send (default 1000). */
  maxPairs?: number;
}

export const DEFAULT_MAX_PARAMS_BYTES = 1024 * 1024;
export const DEFAULT_MAX_PARAMS = 1000;

const EMPTY = Buffer.alloc(0);
const NO_NAMES: readonly string[] = Object.freeze([]);
/** Names remembered by position (a server's usual variables, with room to spare). */
const MAX_KNOWN_NAMES = 128;
/**
 * The names of the last request's pairs, by position, shared by every decoder: a web server sends
 * the same names in the same order on every request and every connection (mod_fcgid opens one per
 * request), so a name that matches is taken from here: no new string, and one V8 has already made
 * a property key (a fresh one is looked up in its string table each time). Matched by their bytes
 * (`knownBytes`), so that the check makes no string either.
 */
const knownNames: string[] = [];
const knownBytes: Uint8Array[] = [];
/** How many fields the last request had, shared as the names are. */
let lastFilled = 0;

export class PairDecoder {
  readonly maxBytes: number;
  readonly maxPairs: number;
  /** Names (latin-1) of pairs dropped because the name or value held NUL. */
  dropped: readonly string[] = NO_NAMES;
  private params: Record<string, string> | null = null;
  /**
   * The kept pairs as NAME, VALUE, NAME, VALUE… in the order they came (repeats included), once
   * `end` has returned.
   */
  fields: string[] = newFields();
  /** How many entries of `fields` are filled: it is made at the size the last request needed. */
  private filled = 0;
  private count = 0;
  private total = 0;
  /** The incomplete tail at [0, held). */
  private buffer: Buffer = EMPTY;
  private held = 0;

  /**
   * Whether this decoder's names teach the shared tables (known names, the field count, the
   * constructors): true for PARAMS, false for a GET_VALUES query, whose names are no request's.
   */
  private readonly learns: boolean;

  constructor(limits: PairLimits = {}, options: { learn?: boolean } = {}) {
    this.maxBytes = limits.maxBytes ?? DEFAULT_MAX_PARAMS_BYTES;
    this.maxPairs = limits.maxPairs ?? DEFAULT_MAX_PARAMS;
    this.learns = options.learn ?? true;
  }

  /** Decode what `content` completes; keep (a copy of) an incomplete tail. Throws WSGIKIT_PROTOCOL past a cap. */
  write(content: Buffer): void {
    if (content.length === 0) return;
    this.total += content.length;
    if (this.total > this.maxBytes) {
      throw new WsgikitError(
        'WSGIKIT_PROTOCOL',
        `FastCGI PARAMS of more than ${this.maxBytes} bytes (the maxParamsBytes limit)`,
      );
    }
    if (this.held === 0) {
      const used = this.decode(content, content.length);
      if (used < content.length) this.hold(content, used);
      return;
    }
    this.append(content);
    const used = this.decode(this.buffer, this.held);
    if (used !== 0) {
      this.buffer.copy(this.buffer, 0, used, this.held);
      this.held -= used;
    }
  }

  /**
   * The stream has ended (empty PARAMS record): returns the pairs as an object with nothing
   * inherited; a later pair with the same name wins (as PHP-FPM does). Throws if a pair is
   * incomplete.
   */
  end(): Record<string, string> {
    if (this.held !== 0) {
      throw new WsgikitError(
        'WSGIKIT_PROTOCOL',
        `FastCGI PARAMS ended inside a name-value pair (${this.held} bytes left over)`,
      );
    }
    if (this.fields.length !== this.filled) this.fields.length = this.filled;
    if (!this.learns) return (this.params ??= plainParams(this.fields));
    lastFilled = this.filled;
    return (this.params ??= paramsOf(this.fields));
  }

  /** Forget everything, to decode another request's pairs (keeps the buffer). */
  reset(): void {
    this.params = null;
    this.dropped = NO_NAMES;
    this.fields = newFields();
    this.filled = 0;
    this.count = 0;
    this.total = 0;
    this.held = 0;
    if (this.buffer.length > 64 * 1024) this.buffer = EMPTY; // don't keep a rare big one per connection
  }

  /** Decode complete pairs in buf[0, end); returns the offset of the first incomplete one. */
  private decode(buf: Buffer, end: number): number {
    let pos = 0;
    // One latin-1 decode of the block, then substrings: a byte is a character, so offsets agree,
    // and a substring of a one-byte string costs far less than a Buffer.toString per name and value.
    let text: string | null = null;
    /** The next NUL at or after the current pair (-1: none left), found once, not per pair. */
    let nul = -2;
    for (;;) {
      if (pos >= end) return pos;
      let at = pos;
      // name length
      let nameLength = buf[at]!;
      if (nameLength & 0x80) {
        if (end - at < 4) return pos;
        nameLength = buf.readUInt32BE(at) & 0x7fffffff;
        at += 4;
      } else {
        at += 1;
      }
      if (at >= end) return pos;
      let valueLength = buf[at]!;
      if (valueLength & 0x80) {
        if (end - at < 4) return pos;
        valueLength = buf.readUInt32BE(at) & 0x7fffffff;
        at += 4;
      } else {
        at += 1;
      }
      // A pair longer than the cap can never complete: fail now rather than buffer it.
      if (at - pos + nameLength + valueLength > this.maxBytes) {
        throw new WsgikitError(
          'WSGIKIT_PROTOCOL',
          `FastCGI name-value pair of ${nameLength} + ${valueLength} bytes exceeds the ${this.maxBytes}-byte PARAMS limit`,
        );
      }
      if (end - at < nameLength + valueLength) return pos;
      if (++this.count > this.maxPairs) {
        throw new WsgikitError(
          'WSGIKIT_PROTOCOL',
          `FastCGI PARAMS with more than ${this.maxPairs} name-value pairs (the maxParams limit)`,
        );
      }
      const nameEnd = at + nameLength;
      const valueEnd = nameEnd + valueLength;
      text ??= buf.toString('latin1', 0, end);
      const index = this.count - 1;
      let name: string;
      if (index < knownNames.length && sameBytes(knownBytes[index]!, buf, at, nameLength)) {
        name = knownNames[index]!;
      } else {
        name = text.substring(at, nameEnd);
        if (index < MAX_KNOWN_NAMES && this.learns) {
          knownNames[index] = name;
          knownBytes[index] = new Uint8Array(buf.subarray(at, nameEnd)); // a copy, not a view
        }
      }
      if (nul !== -1 && nul < at) nul = text.indexOf('\0', at);
      if (nul !== -1 && nul < valueEnd) {
        this.dropped = this.dropped === NO_NAMES ? [name] : [...this.dropped, name];
      } else {
        // Stores, not push(name, value): V8 calls a builtin for a push of two.
        const fields = this.fields;
        fields[this.filled++] = name;
        fields[this.filled++] = text.substring(nameEnd, valueEnd);
      }
      pos = valueEnd;
    }
  }

  private hold(content: Buffer, from: number): void {
    const rest = content.length - from;
    this.reserve(rest);
    content.copy(this.buffer, 0, from);
    this.held = rest;
  }

  private append(content: Buffer): void {
    this.reserve(this.held + content.length);
    content.copy(this.buffer, this.held);
    this.held += content.length;
  }

  private reserve(size: number): void {
    if (this.buffer.length >= size) return;
    let grown = Math.max(this.buffer.length, 256);
    while (grown < size) grown *= 2;
    const next = Buffer.allocUnsafe(grown);
    if (this.held !== 0) this.buffer.copy(next, 0, 0, this.held);
    this.buffer = next;
  }
}

/**
 * An array for a request's fields, at the size of the last one's. Grown from empty, an array is
 * copied to a larger store three times on its way to a server's 30-odd variables.
 */
function newFields(): string[] {
  return lastFilled === 0 ? [] : new Array<string>(lastFilled);
}

/** Whether buf[at, at + length) holds exactly `bytes`: a loop beats a native call for a name. */
function sameBytes(bytes: Uint8Array, buf: Buffer, at: number, length: number): boolean {
  if (bytes.length !== length) return false;
  for (let i = 0; i < length; i++) if (buf[at + i] !== bytes[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// The params object. Filled name by name, an object of a server's 30-odd variables becomes a
// dictionary: each store hashes, the table grows and rehashes, and every later read is a hash
// lookup. A web server sends its own variables in the same order on every request, and the
// client's headers after them (nginx) or before them (Apache), so once a run of leading names
// repeats, a constructor is made for it: its objects get those names as ordinary (fast) properties,
// filled in one pass, and the names after them are added one by one. The constructor's prototype
// is an empty object with no prototype, so nothing is inherited, as with Object.create(null).

/** Builds the params of a run of leading names from the fields NAME, VALUE, NAME, VALUE… */
interface Shape {
  readonly names: readonly string[];
  readonly make: new (fields: readonly string[]) => Record<string, string>;
}

/** Requests in a row that begin with the same names before those names get a constructor. */
const SHAPE_AFTER = 3;
/** Fewer leading names in common than this are not worth a constructor. */
const MIN_SHAPE_NAMES = 4;
/** Past this many names V8 keeps an object's properties in a dictionary anyway. */
const MAX_SHAPE_NAMES = 120;
/** The constructors kept, the newest first: a few server blocks or clients, each its own run. */
const MAX_SHAPES = 4;
/** Constructors made over the process's life: past this, names that keep changing get none. */
const MAX_SHAPES_MADE = 64;
const shapes: Shape[] = [];
let shapesMade = 0;
/** The leading names the last requests without a constructor had in common, and how many in a row. */
let candidate: string[] | null = null;
let repeats = 0;
/** False once making a constructor failed (node run with --disallow-code-generation-from-strings). */
let shapesAllowed = true;

function paramsOf(fields: readonly string[]): Record<string, string> {
  for (let i = 0; i < shapes.length; i++) {
    const shape = shapes[i]!;
    const n = shape.names.length;
    if (leadingNames(shape.names, fields) !== n) continue;
    const params = new shape.make(fields);
    for (let j = 2 * n; j < fields.length; j += 2) params[fields[j]!] = fields[j + 1]!;
    // A short run made first must not keep a longer one that requests share from its own.
    if (fields.length >> 1 >= n + MIN_SHAPE_NAMES) noteNames(fields, n + MIN_SHAPE_NAMES);
    return params;
  }
  const params = plainParams(fields);
  noteNames(fields, MIN_SHAPE_NAMES);
  return params;
}

/** The params as a dictionary with nothing inherited, name by name. */
function plainParams(fields: readonly string[]): Record<string, string> {
  const params = Object.create(null) as Record<string, string>;
  for (let i = 0; i < fields.length; i += 2) params[fields[i]!] = fields[i + 1]!;
  return params;
}

/** How many of `names` the fields begin with. */
function leadingNames(names: readonly string[], fields: readonly string[]): number {
  const n = Math.min(names.length, fields.length >> 1);
  let i = 0;
  while (i < n && names[i] === fields[2 * i]) i++;
  return i;
}

/** Counts the request towards a constructor for its leading names, if `atLeast` of them repeat. */
function noteNames(fields: readonly string[], atLeast: number): void {
  if (!shapesAllowed || shapesMade >= MAX_SHAPES_MADE) return;
  if (candidate !== null) {
    const common = leadingNames(candidate, fields);
    if (common >= atLeast) {
      candidate.length = common;
      if (++repeats < SHAPE_AFTER) return;
      const shape = makeShape(candidate);
      candidate = null;
      if (shape === null) return;
      shapesMade++;
      shapes.unshift(shape);
      if (shapes.length > MAX_SHAPES) shapes.pop();
      return;
    }
  }
  candidate = [];
  for (let i = 0; i < fields.length && i < 2 * MAX_SHAPE_NAMES; i += 2) candidate.push(fields[i]!);
  repeats = 1;
}

function makeShape(names: readonly string[]): Shape | null {
  // Each name is written as a JSON string literal, so no name can be read as code; a literal key
  // makes the store a named one, which is what keeps the properties fast.
  let body = '';
  for (let i = 0; i < names.length; i++) body += `this[${JSON.stringify(names[i])}] = fields[${2 * i + 1}];\n`;
  try {
    const make = new Function('fields', body) as unknown as Shape['make'];
    make.prototype = Object.freeze(Object.create(null)) as Record<string, string>;
    return { names, make };
  } catch {
    shapesAllowed = false;
    return null;
  }
}

/**
 * Decode a complete block of pairs. `learn: false` for one that is no request's PARAMS (a
 * GET_VALUES record), so that it leaves the tables learned from requests alone.
 */
export function decodePairs(
  content: Buffer,
  limits: PairLimits = {},
  options: { learn?: boolean } = {},
): Record<string, string> {
  const decoder = new PairDecoder(limits, options);
  decoder.write(content);
  return decoder.end();
}
