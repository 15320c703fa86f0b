import { pack } from 'msgpackr';

/**
 * The msgpack bytes of a map that tries prototype pollution:
 * `{ "__proto__": { "polluted": true }, "constructor": { "prototype": { "polluted2": true } } }`,
 * then `extra`'s entries in order (each key and value packed by msgpackr). Built by hand
 * so no encoder sanitises the dangerous keys. After decoding it, `({}).polluted` and
 * `({}).polluted2` must still be undefined.
 */
export function prototypePollutingMap(extra: Record<string, unknown> = {}): Buffer {
  const entries = Object.entries(extra);
  const size = 2 + entries.length;
  if (size > 15) throw new RangeError('a msgpack fixmap holds at most 15 entries');
  return Buffer.concat([
    Buffer.from([0x80 | size]), // fixmap of `size` entries
    pack('__proto__'),
    Buffer.from([0x81]),
    pack('polluted'),
    Buffer.from([0xc3]),
    pack('constructor'),
    Buffer.from([0x81]),
    pack('prototype'),
    Buffer.from([0x81]),
    pack('polluted2'),
    Buffer.from([0xc3]),
    ...entries.flatMap(([key, value]) => [pack(key), pack(value)]),
  ]);
}
