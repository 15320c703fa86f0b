/** The bench's command line: every flag parses, and every mistake names itself. */
import { describe, expect, it } from 'vitest';
import { parseBenchArgs, SECTION_NAMES, UsageError } from '../../bench/args.js';
import { TRACE_NAMES } from '../../bench/traces.js';

describe('bench args', () => {
  it('defaults to every section and every trace, full run', () => {
    const args = parseBenchArgs([]);
    expect(args.quick).toBe(false);
    expect(args.sections).toEqual([...SECTION_NAMES]);
    expect(args.traces).toEqual([...TRACE_NAMES]);
    expect(args.json).toBeUndefined();
    expect(args.check).toBe(false);
  });

  it('parses --check (exit 3 when a goal is missed)', () => {
    expect(parseBenchArgs(['--check', '--only', 'mixed']).check).toBe(true);
  });

  it('parses --quick, --only (in run order), --trace and --json', () => {
    const args = parseBenchArgs([
      '--quick',
      '--only',
      'stampede,hit-ratio',
      '--trace',
      'oltp,p3',
      '--json',
      'x.json',
    ]);
    expect(args.quick).toBe(true);
    expect(args.sections).toEqual(['hit-ratio', 'stampede']);
    expect(args.traces).toEqual(['oltp', 'p3']);
    expect(args.json).toBe('x.json');
  });

  it('rejects an unknown flag, naming it', () => {
    expect(() => parseBenchArgs(['--fast'])).toThrow(UsageError);
    expect(() => parseBenchArgs(['--fast'])).toThrow(/--fast/);
  });

  it('rejects an unknown section or trace, naming it and the known ones', () => {
    expect(() => parseBenchArgs(['--only', 'latency,speed'])).toThrow(/unknown section "speed".*hit-ratio/);
    expect(() => parseBenchArgs(['--trace', 'wiki'])).toThrow(/unknown trace "wiki".*oltp/);
  });

  it('rejects a flag without its value, and positionals', () => {
    expect(() => parseBenchArgs(['--only'])).toThrow(UsageError);
    expect(() => parseBenchArgs(['--only', ','])).toThrow(/at least one/);
    expect(() => parseBenchArgs(['latency'])).toThrow(UsageError);
  });
});
