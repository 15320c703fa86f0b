/** UTF-8 bytes of `text`: a store value for tests. */
export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** The UTF-8 text of a store value, or `undefined` for a miss. */
export const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value);
