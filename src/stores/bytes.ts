/**
 * A Uint8Array as a Buffer over the same memory, without copying. Both drivers need a
 * Buffer: ioredis would stringify a plain Uint8Array, and pg sends only a Buffer as
 * `bytea`. A view into a larger buffer keeps its offset and length.
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
