// Real decorator syntax, compiled by tsc both ways: TC39 standard decorators (TypeScript 5's
// default) and legacy `experimentalDecorators` with `emitDecoratorMetadata`. Each fixture
// project compiles the same sources (test/fixtures/decorators-shared: a decorated repository
// and the type tests) together with the library into its own out/ dir; this test then runs
// the compiled JavaScript against a real TieredCache (L1 only).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Scenario = typeof import('../../fixtures/decorators-shared/scenario.js');

const root = join(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);

async function compile(fixture: string): Promise<Scenario> {
  const project = join(root, 'test', 'fixtures', fixture);
  try {
    await run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', project], { cwd: root });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc -p ${project} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
  const scenario = join(project, 'out', 'test', 'fixtures', 'decorators-shared', 'scenario.js');
  return import(pathToFileURL(scenario).href) as Promise<Scenario>;
}

describe.each(['standard', 'legacy'] as const)('tsc-compiled %s decorators', (protocol) => {
  let m: Scenario;
  let cache: InstanceType<Scenario['TieredCache']>;
  let table: InstanceType<Scenario['FakeTable']>;
  let repo: InstanceType<Scenario['ProductRepository']>;

  beforeAll(async () => {
    m = await compile(`decorators-${protocol}`);
    cache = new m.TieredCache({ namespace: `fixture-${protocol}`, l1: { max: 100 } });
    table = new m.FakeTable();
    table.rows.set(1, { id: 1, name: 'kettle', price: 30 });
    table.rows.set(2, { id: 2, name: 'mug', price: 8 });
    repo = new m.ProductRepository(table, cache);
  });
  afterAll(() => cache?.close());

  it(`was compiled with ${protocol} decorators`, () => {
    expect(m.protocol).toBe(protocol);
  });

  it('reads through the cache: one query per product, `this` and return value intact', async () => {
    table.queries = 0;
    expect(await repo.findById(1)).toEqual({ id: 1, name: 'kettle', price: 30 });
    expect(await repo.findById(1)).toEqual({ id: 1, name: 'kettle', price: 30 });
    expect(await repo.findById(2)).toMatchObject({ name: 'mug' });
    expect(table.queries).toBe(2);
    expect(await cache.get('ProductRepository.findById:[1]')).toMatchObject({ name: 'kettle' });
  });

  it('uses the typed key function', async () => {
    table.queries = 0;
    expect(await repo.cheaperThan(10)).toEqual([2]);
    expect(await repo.cheaperThan(10, 'desc')).toEqual([2]);
    expect(table.queries).toBe(1);
    expect(await cache.get('products:cheaper:10')).toEqual([2]);
  });

  it('evicts after a successful write, and not after a failed one', async () => {
    await repo.findById(1);
    table.queries = 0;
    await repo.rename(1, 'teapot');
    expect(await repo.findById(1)).toMatchObject({ name: 'teapot' });
    expect(table.queries).toBe(1);
    await expect(repo.rename(99, 'ghost')).rejects.toThrow('no product 99');
    await repo.findById(1);
    expect(table.queries).toBe(1);
  });

  it('puts the result of @CachePut, then clears everything with allEntries', async () => {
    table.queries = 0;
    await repo.insert({ id: 3, name: 'spoon', price: 2 });
    expect(await repo.findById(3)).toEqual({ id: 3, name: 'spoon', price: 2 });
    expect(table.queries).toBe(0);
    await repo.truncate();
    expect(await cache.get('ProductRepository.findById:[3]')).toBeUndefined();
    expect(await repo.findById(3)).toBeUndefined();
    expect(table.queries).toBe(1);
  });

  it('rejects an argument it cannot key, naming the method and the index', async () => {
    const findById = repo.findById as (id: unknown) => Promise<unknown>;
    await expect(findById.call(repo, () => 1)).rejects.toThrow(m.UncacheableArgumentError);
    await expect(findById.call(repo, new Map([[1, Symbol('s')]]))).rejects.toThrow(
      /ProductRepository\.findById\(\): argument 0 is not serializable: args\[0\]\.get\(1\) is a symbol/,
    );
  });

  it('refuses a getter and a non-async method when the class is defined', () => {
    expect(() => m.defineGetter(cache)).toThrow(m.InvalidDecoratorTargetError);
    expect(() => m.defineGetter(cache)).toThrow(/is a getter/);
    expect(() => m.definePlainMethod(cache)).toThrow(/is not async/);
    expect(() => m.definePromiseReturningMethod(cache)).toThrow(/is not async\. Declare it `async`/);
  });
});
