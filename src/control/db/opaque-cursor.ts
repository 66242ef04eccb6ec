import { NovaError } from '../../errors.js';

/**
 * Page cursors as clients see them: a tuple of the sort key's values,
 * JSON in base64url, opaque to them. Decoding checks only the envelope;
 * each list checks the tuple's shape and answers `invalid` otherwise.
 */
export function encodeCursor(values: ReadonlyArray<string | number>): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

/** The tuple inside a cursor, or `invalid` (a 400) for anything that is not a JSON array in base64url. */
export function decodeCursor(cursor: string, invalid: NovaError): unknown[] {
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid;
  }
  if (!Array.isArray(value)) throw invalid;
  return value;
}

export function badCursor(message = 'cursor is not one this API returned'): NovaError {
  return new NovaError('NOVA_ERR_BAD_REQUEST', message);
}
