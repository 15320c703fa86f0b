/**
 * Progress for long sections: a cli-progress bar on a terminal, plain lines otherwise
 * (CI logs, pipes), so logs stay readable and bars never garble them.
 */
import cliProgress from 'cli-progress';

/** One task's progress. */
export interface Progress {
  /** Advances by `n` (default 1); `label` says what just finished. */
  tick(label?: string, n?: number): void;
  /** Ends the bar (idempotent). */
  stop(): void;
}

/** Whether bars are drawn: a TTY, and not CI. */
export const interactive = process.stdout.isTTY === true && !process.env.CI;

/** Starts progress for `total` steps of a task called `title`. */
export function progress(title: string, total: number): Progress {
  if (!interactive) {
    // Plain lines: one per tenth of the work at most, so CI logs stay short.
    let done = 0;
    let printed = 0;
    return {
      tick(label, n = 1) {
        done += n;
        const tenth = Math.floor((done * 10) / total);
        if (tenth <= printed && done < total) return;
        printed = tenth;
        console.log(`  ${title}: ${done}/${total} ${label ?? ''}`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `  ${title.padEnd(14)} [{bar}] {value}/{total} {label}`,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { label: '' });
  let stopped = false;
  return {
    tick(label, n = 1) {
      bar.increment(n, { label: label ?? '' });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
