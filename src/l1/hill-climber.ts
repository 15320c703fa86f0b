/**
 * The hill climber that sizes W-TinyLFU's admission window (Caffeine's adaptive window:
 * `BoundedLocalCache.climb` / `determineAdjustment`; Einziger, Eytan, Friedman, Manes,
 * "Adaptive Software Cache Management", Middleware 2018).
 *
 * It samples the hit rate over a period of requests. If the last move of the window
 * raised the hit rate (or kept it), the next move goes the same way; if it lowered it,
 * the next goes the other way. Steps start at 6.25% of the cache and shrink by 2% per
 * period, so the window settles; a jump of 5 points in the hit rate means the workload
 * changed, and the step grows back to its start. Those three numbers are Caffeine's.
 */

/** Caffeine's `HILL_CLIMBER_STEP_PERCENT`: the first step, as a fraction of the cache. */
const STEP_PERCENT = 0.0625;
/** Caffeine's `HILL_CLIMBER_STEP_DECAY_RATE`: each period's step is 98% of the last. */
const STEP_DECAY = 0.98;
/** Caffeine's `HILL_CLIMBER_RESTART_THRESHOLD`: a hit-rate change this large restarts the step. */
const RESTART_THRESHOLD = 0.05;

/** Counts hits and misses, and says by how much to move the window after each period. */
export class HillClimber {
  /** Requests per sample. */
  readonly period: number;
  #hits = 0;
  #misses = 0;
  #previousHitRate = 0;
  /** The next move, in entries: positive grows the window, negative shrinks it. */
  #step: number;
  readonly #initialStep: number;

  /**
   * @param max the cache's entry bound (the step is a fraction of it).
   * @param period requests per sample.
   */
  constructor(max: number, period: number) {
    this.period = Math.max(1, period);
    this.#initialStep = STEP_PERCENT * max;
    this.#step = this.#initialStep;
  }

  /** Records a hit; true when the sample is complete (then call {@link adjust}). */
  hit(): boolean {
    return ++this.#hits + this.#misses >= this.period;
  }

  /** Records a miss; true when the sample is complete (then call {@link adjust}). */
  miss(): boolean {
    return this.#hits + ++this.#misses >= this.period;
  }

  /** Forgets the current sample (the cache is not full yet: its hit rate says nothing about the window). */
  restartSample(): void {
    this.#hits = 0;
    this.#misses = 0;
  }

  /**
   * Ends the sample and returns the move, in whole entries (positive: grow the window;
   * negative: shrink it; 0: stay).
   */
  adjust(): number {
    const requests = this.#hits + this.#misses;
    const hitRate = requests === 0 ? 0 : this.#hits / requests;
    const change = hitRate - this.#previousHitRate;
    // Keep going the way that helped (or did no harm); turn around after a loss.
    const amount = change >= 0 ? this.#step : -this.#step;
    this.#step =
      Math.abs(change) >= RESTART_THRESHOLD
        ? Math.sign(amount || 1) * this.#initialStep
        : STEP_DECAY * amount;
    this.#previousHitRate = hitRate;
    this.restartSample();
    return Math.trunc(amount);
  }
}
