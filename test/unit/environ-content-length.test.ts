import { describe, expect, it } from 'vitest';
import { declaredBodyLength } from '../../src/environ/content-length.js';
import { isWsgikitError } from '../../src/errors.js';

describe('declaredBodyLength: the CONTENT_LENGTH every front end accepts', () => {
  it.each([
    [undefined, null],
    ['', null],
    ['0', 0],
    ['5', 5],
    ['007', 7],
    ['104857600', 104857600],
    [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
  ])('%j declares %j', (value, length) => {
    expect(declaredBodyLength(value)).toBe(length);
  });

  it.each([
    '-5',
    '+5',
    '-0',
    'abc',
    '12abc',
    ' 5',
    '5 ',
    '5\t',
    '1 2',
    '5.0',
    '1e3',
    '0x10',
    '5,5',
    '5/', // the characters on either side of the digits
    ':5',
    '٥', // an Arabic-Indic digit: not ASCII
    String(Number.MAX_SAFE_INTEGER + 1),
    '9'.repeat(400),
  ])('%j is a bad request (400)', (value) => {
    let caught: unknown;
    try {
      declaredBodyLength(value);
    } catch (error) {
      caught = error;
    }
    expect(isWsgikitError(caught) && caught.code).toBe('WSGIKIT_BAD_REQUEST');
    expect(isWsgikitError(caught) && caught.status).toBe(400);
  });
});
