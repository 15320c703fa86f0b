import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The core entry (`tiercache`) must load and work for a user who installed none of the
// optional peers (ioredis, pg, prom-client). Bundle src/index.ts with only the real
// dependencies external: any import of a peer would be pulled into the bundle (it is
// installed here) and show in the metafile. Then run the bundle in a directory whose
// node_modules holds only lru-cache and msgpackr.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PEERS = ['ioredis', 'pg', 'prom-client', '@opentelemetry/api'];
const run = promisify(execFile);

let metafile: Metafile;
let code: string;
let dir: string;

beforeAll(async () => {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/index.ts'],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['lru-cache', 'msgpackr'],
    metafile: true,
    logLevel: 'silent',
  });
  metafile = result.metafile;
  code = result.outputFiles[0]?.text ?? '';
  dir = mkdtempSync(join(tmpdir(), 'tiercache-core-entry-'));
  mkdirSync(join(dir, 'node_modules'));
  for (const dep of ['lru-cache', 'msgpackr']) {
    symlinkSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), 'dir');
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(join(dir, 'tiercache.mjs'), code);
});

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('core entry without the optional peers', () => {
  it('bundles without any peer among its inputs or imports', () => {
    const inputs = Object.keys(metafile.inputs);
    expect(inputs.length).toBeGreaterThan(5);
    expect(inputs.some((input) => input.startsWith('src/cache/tiered-cache.ts'))).toBe(true);
    for (const input of inputs) {
      expect(input.startsWith('src/') || input.includes('node_modules/'), input).toBe(true);
      for (const peer of PEERS)
        expect(input, `bundle pulls in ${peer} via ${input}`).not.toContain(`node_modules/${peer}/`);
    }
    const imports = Object.values(metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    for (const peer of PEERS) expect(imports).not.toContain(peer);
    expect(inputs.filter((i) => i.includes('node_modules/'))).toEqual([]);
  });

  it('loads and works in a directory where only lru-cache and msgpackr are installed', async () => {
    const script = `
      import { pathToFileURL } from 'node:url';
      const out = {};
      try { await import('ioredis'); out.ioredis = 'resolvable'; } catch (e) { out.ioredis = e.code; }
      try { await import('pg'); out.pg = 'resolvable'; } catch (e) { out.pg = e.code; }
      const { TieredCache, InvalidOptionError } = await import(pathToFileURL(${JSON.stringify(join(dir, 'tiercache.mjs'))}).href);
      let t = 1_000;
      const cache = new TieredCache({ namespace: 'peerless', clock: { now: () => t }, random: () => 0, ttl: 100 });
      let loads = 0;
      const values = await Promise.all([1, 2, 3].map(() => cache.getOrSet('k', async () => { loads++; return { n: 42 }; })));
      await cache.set('a', 'b');
      out.values = values;
      out.loads = loads;
      out.get = await cache.get('a');
      t += 100;
      out.expired = await cache.get('a');
      try { new TieredCache({ namespace: 'x', ttl: -1 }); } catch (e) { out.optionError = e instanceof InvalidOptionError && e.option; }
      await cache.close();
      console.log(JSON.stringify(out));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
    });
    const out = JSON.parse(stdout.trim());
    // The peers really are absent from this directory, so the bundle cannot be leaning on them.
    expect(out.ioredis).toBe('ERR_MODULE_NOT_FOUND');
    expect(out.pg).toBe('ERR_MODULE_NOT_FOUND');
    expect(out).toMatchObject({
      values: [{ n: 42 }, { n: 42 }, { n: 42 }],
      loads: 1,
      get: 'b',
      optionError: 'ttl',
    });
    expect('expired' in out).toBe(false);
  });
});
