import pg from 'pg';
import { InvalidOptionError } from '../errors.js';

/** A row's cache key as parsed from a template: literal text and column names, in order. */
export interface KeyShape {
  /** Literal parts and columns, alternating as written. */
  readonly parts: ReadonlyArray<{ readonly text: string } | { readonly column: string }>;
  /** The columns the key reads. */
  readonly columns: readonly string[];
}

/**
 * A trigger's `key` option as a {@link KeyShape}: a template with `{column}`
 * placeholders (`'user:{id}'`), or a list of columns joined with `:`. A placeholder
 * holds any characters but `{` and `}`; a brace outside one is an error, and so is a
 * template without any placeholder (every row would have the same key).
 * @throws InvalidOptionError naming `key`.
 */
export function parseKeyShape(key: unknown): KeyShape {
  if (Array.isArray(key)) {
    if (key.length === 0 || !key.every(isColumn)) {
      throw new InvalidOptionError('key', 'a non-empty list of column names', key);
    }
    const parts = key.flatMap((column: string, i) => (i === 0 ? [{ column }] : [{ text: ':' }, { column }]));
    return { parts, columns: key as string[] };
  }
  if (typeof key !== 'string' || key.length === 0 || key.includes('\u0000')) {
    throw new InvalidOptionError('key', "a template such as 'user:{id}', or a list of columns", key);
  }
  const parts: Array<{ text: string } | { column: string }> = [];
  const columns: string[] = [];
  const pattern = /\{([^{}]*)\}|([^{}]+)|([{}])/g;
  for (const match of key.matchAll(pattern)) {
    const [, column, text, brace] = match;
    if (brace !== undefined || (column !== undefined && !isColumn(column))) {
      throw new InvalidOptionError(
        'key',
        "a template whose `{column}` placeholders name columns (no other braces), such as 'user:{id}'",
        key,
      );
    }
    if (column !== undefined) {
      parts.push({ column });
      columns.push(column);
    } else parts.push({ text: text as string });
  }
  if (columns.length === 0) {
    throw new InvalidOptionError('key', "a template with at least one `{column}`, such as 'user:{id}'", key);
  }
  return { parts, columns };
}

function isColumn(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    Buffer.byteLength(value) <= 63 &&
    !value.includes('\u0000')
  );
}

/**
 * The SQL expression of a row's key, over the row alias `alias`: literals escaped as
 * string literals, columns quoted as identifiers and cast to text. NULL when a column is.
 */
export function keyExpression(shape: KeyShape, alias: string): string {
  const terms = shape.parts.map((part) =>
    'column' in part ? `${alias}.${pg.escapeIdentifier(part.column)}::text` : pg.escapeLiteral(part.text),
  );
  return `(${terms.join(' || ')})`;
}
