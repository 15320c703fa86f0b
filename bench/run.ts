/**
 * `npm run bench`: runs the benchmark sections, prints compact tables at the end, and
 * writes every figure to JSON (and plots to SVG) under bench/results/.
 *
 *   npm run bench                      every section this machine can run (a few minutes)
 *   npm run bench -- --quick           CI smoke run, under a minute
 *   npm run bench -- --only latency    one or more sections (comma list)
 *   npm run bench -- --trace oltp,p3   narrow the hit-ratio traces
 *   npm run bench -- --json out.json   choose the output file
 *   npm run bench -- --check           a gate: exit 3 when a goal is missed
 *
 * Exit status: 0 when every section ran or was skipped for a missing server, 1 when a
 * section crashed, 2 on a bad command line, 3 with `--check` when a goal was missed, 130
 * on Ctrl-C.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseBenchArgs, type SectionName, USAGE, UsageError } from './args.js';
import { killWorkers } from './children.js';
import {
  fileTimestamp,
  libraryVersions,
  machineInfo,
  renderTable,
  repoRoot,
  type Table,
  writeJson,
} from './report.js';
import { removeRunLeftovers } from './scratch.js';
import type { Section, SectionContext, Target } from './section.js';
import { clusterSection } from './sections/cluster.js';
import { hitRatioSection } from './sections/hit-ratio.js';
import { invalidationSection } from './sections/invalidation.js';
import { latencySection } from './sections/latency.js';
import { mixedSection } from './sections/mixed.js';
import { observabilitySection } from './sections/observability.js';
import { redisDownSection } from './sections/redis-down.js';
import { stampedeSection } from './sections/stampede.js';
import { tagsSection } from './sections/tags.js';
import { benchServices, SkipSection } from './services.js';

const SECTIONS: Record<SectionName, Section> = {
  'hit-ratio': hitRatioSection,
  latency: latencySection,
  mixed: mixedSection,
  stampede: stampedeSection,
  invalidation: invalidationSection,
  'redis-down': redisDownSection,
  cluster: clusterSection,
  tags: tagsSection,
  observability: observabilitySection,
};

interface Outcome {
  status: 'ok' | 'skipped' | 'failed';
  seconds: number;
  reason?: string;
  skippedParts?: readonly string[];
  figures?: Record<string, unknown>;
  tables?: readonly Table[];
  targets?: readonly Target[];
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseBenchArgs>;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }

  const startedAt = new Date();
  const jsonPath = resolve(
    args.json ?? join(repoRoot, 'bench', 'results', `${fileTimestamp(startedAt)}.json`),
  );
  const outDir = dirname(jsonPath);
  const stem = basename(jsonPath).replace(/\.json$/i, '');
  const services = benchServices({ log: (line) => console.log(line) });

  // Ctrl-C / SIGTERM: stop what we started (servers, workers) before going, and remove
  // the keys and schemas of the section that was cut short (its finally never runs).
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench: ${signal}, stopping workers and servers…`);
    killWorkers();
    void removeRunLeftovers(services.urls())
      .then(() => services.stop())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Any other way out (a crash, a closed stdout): workers go too (servers: the helper's own exit hook).
  process.on('exit', killWorkers);

  const artifacts: string[] = [];
  const ctx: SectionContext = {
    args,
    services,
    log: (line) => console.log(line),
    writeArtifact: (suffix, content) => {
      mkdirSync(outDir, { recursive: true });
      const path = join(outDir, `${stem}-${suffix}`);
      writeFileSync(path, content);
      artifacts.push(path);
      return path;
    },
  };

  const machine = machineInfo();
  console.log(
    `tiercache bench${args.quick ? ' --quick' : ''}: ${args.sections.join(', ')} on ${machine.cpus} × ${machine.model}, Node ${process.version}`,
  );
  const outcomes: Partial<Record<SectionName, Outcome>> = {};
  for (const name of args.sections) {
    const section = SECTIONS[name];
    console.log(`\n▶ ${name}: ${section.title}`);
    const t0 = performance.now();
    try {
      const result = await section.run(ctx);
      const seconds = (performance.now() - t0) / 1000;
      outcomes[name] = { status: 'ok', seconds, ...result };
      for (const part of result.skippedParts ?? []) console.log(`  skipped ${part}`);
      console.log(`  done in ${seconds.toFixed(1)} s`);
    } catch (error) {
      const seconds = (performance.now() - t0) / 1000;
      if (error instanceof SkipSection) {
        outcomes[name] = { status: 'skipped', seconds, reason: error.message };
        console.log(`  skipped: ${error.message}`);
      } else {
        outcomes[name] = { status: 'failed', seconds, reason: (error as Error)?.stack ?? String(error) };
        console.error(`  FAILED: ${(error as Error)?.stack ?? String(error)}`);
      }
    } finally {
      // Whatever the section left on the shared servers (it failed half-way, a worker
      // wrote after its cleanup): every key and schema this run made goes now.
      if (!interrupted) await removeRunLeftovers(services.urls());
    }
    if (interrupted) return 130;
  }
  killWorkers();
  await services.stop();

  console.log('\n══════════ results ══════════');
  for (const name of args.sections) {
    const outcome = outcomes[name];
    if (!outcome) continue;
    if (outcome.status !== 'ok') {
      console.log(`\n${name}: ${outcome.status}: ${outcome.reason?.split('\n')[0]}`);
      continue;
    }
    for (const table of outcome.tables ?? []) console.log(`\n${renderTable(table)}`);
    for (const part of outcome.skippedParts ?? []) console.log(`  skipped ${part}`);
  }

  const path = writeJson(jsonPath, {
    schema: 1,
    timestamp: startedAt.toISOString(),
    argv: process.argv.slice(2),
    quick: args.quick,
    machine,
    libraries: libraryVersions(),
    services: services.describe(),
    sections: Object.fromEntries(
      Object.entries(outcomes).map(([name, o]) => [
        name,
        {
          status: o.status,
          seconds: o.seconds,
          targets: o.targets,
          reason: o.reason,
          skippedParts: o.skippedParts,
          figures: o.figures,
        },
      ]),
    ),
  });
  const missed = printTargets(outcomes);
  console.log(`\nfigures: ${path}`);
  for (const artifact of artifacts) console.log(`plot:    ${artifact}`);
  const summary = args.sections.map((name) => `${name} ${outcomes[name]?.status ?? 'not run'}`).join(', ');
  console.log(`sections: ${summary}`);
  if (Object.values(outcomes).some((o) => o.status === 'failed')) return 1;
  if (args.check && missed > 0) {
    console.log(`--check: ${missed} goal(s) missed, exit 3`);
    return 3;
  }
  return 0;
}

/** Prints every goal checked, one line each, a missed one with what was measured; returns how many were missed. */
function printTargets(outcomes: Partial<Record<SectionName, Outcome>>): number {
  const targets = Object.values(outcomes).flatMap((o) => o.targets ?? []);
  if (targets.length === 0) return 0;
  const missed = targets.filter((t) => !t.met);
  console.log(`\ngoals: ${targets.length - missed.length} of ${targets.length} met`);
  for (const t of missed) console.log(`  ✗ ${t.row}: ${t.measured}, goal ${t.goal}`);
  return missed.length;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    killWorkers();
    process.exit(1);
  },
);
