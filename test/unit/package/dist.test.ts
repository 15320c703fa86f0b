// The package as published: built by tsup with the repository's own tsup.config.ts into a
// temporary directory, then (1) class and error names survive bundling in both formats,
// and (2) a TypeScript project on the classic NestJS tsconfig (`"module": "CommonJS"`, no
// `moduleResolution`, so node10 resolution, which ignores `exports`) finds the types of
// every subpath through `typesVersions`. `npm run check:package` runs attw on every
// resolution mode as well.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build, type Options } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import config from '../../../tsup.config.js';

const root = resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
let dir: string;
let pkg: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tiercache-dist-'));
  pkg = join(dir, 'node_modules', 'tiercache');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  await build({ ...(config as Options), outDir: join(pkg, 'dist'), silent: true });
  // The built files import lru-cache and msgpackr: let them resolve from the repository.
  symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir');
}, 120_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('the built package', () => {
  it('keeps class and error names in ESM and CJS', async () => {
    const esm = await import(pathToFileURL(join(pkg, 'dist', 'index.js')).href);
    const cjs = createRequire(import.meta.url)(join(pkg, 'dist', 'index.cjs'));
    for (const m of [esm, cjs]) {
      expect(m.TieredCache.name).toBe('TieredCache');
      for (const name of [
        'TierCacheError',
        'InvalidOptionError',
        'InvalidKeyError',
        'LoaderTimeoutError',
        'CacheClosedError',
        'StoreUnavailableError',
        'CodecError',
      ]) {
        expect(m[name].name).toBe(name);
      }
      const error = new m.InvalidOptionError('ttl', 'a duration', -1);
      expect(error.name).toBe('InvalidOptionError');
      expect(String(error)).toMatch(/^InvalidOptionError: /);
    }
    const keyv = await import(pathToFileURL(join(pkg, 'dist', 'keyv.js')).href);
    expect(keyv.KeyvTiercache.name).toBe('KeyvTiercache');
  });

  it('resolves the types of every subpath under the classic NestJS tsconfig (CommonJS, node10)', async () => {
    const project = join(dir, 'app');
    mkdirSync(project);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'CommonJS',
          target: 'ES2021',
          strict: true,
          skipLibCheck: true,
          noEmit: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          types: [],
        },
        include: ['main.ts'],
      }),
    );
    writeFileSync(
      join(project, 'main.ts'),
      [
        "import { TieredCache, InvalidOptionError } from 'tiercache';",
        "import { redisStore } from 'tiercache/redis';",
        "import { postgresStore } from 'tiercache/postgres';",
        "import { Cached } from 'tiercache/decorators';",
        "import { registerStoreConformanceSuite } from 'tiercache/testing';",
        "import { KeyvTiercache, createKeyv } from 'tiercache/keyv';",
        'export const used = [TieredCache, InvalidOptionError, redisStore, postgresStore, Cached, registerStoreConformanceSuite, KeyvTiercache, createKeyv];',
      ].join('\n'),
    );
    symlinkSync(join(dir, 'node_modules'), join(project, 'node_modules'), 'dir');
    try {
      await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]);
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`tsc failed:\n${stdout ?? ''}${stderr ?? ''}`);
    }
  }, 60_000);
});
