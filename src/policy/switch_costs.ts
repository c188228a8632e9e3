/** "idle" stands for a cold start (no outgoing model). */
export const IDLE = "idle";

export interface CostEstimate {
  readonly from: string;
  readonly to: string;
  /** Exponential moving average of the switch duration. */
  readonly seconds: number;
  readonly samples: number;
}

/**
 * Measured switch costs: an exponential moving average per (from, to) pair, cold starts tracked as
 * from = "idle". The first sample is taken as is; later ones move the average by `alpha`. Samples are
 * clamped to [0, maxSeconds], so one hung switch cannot make a model look unreachable for good.
 */
export class SwitchCostTracker {
  readonly #alpha: number;
  readonly #maxSeconds: number;
  readonly #costs = new Map<string, CostEstimate>();

  constructor(opts: { alpha?: number; maxSeconds?: number } = {}) {
    this.#alpha = opts.alpha ?? 0.3;
    this.#maxSeconds = opts.maxSeconds ?? 3600;
  }

  record(from: string | null, to: string, rawSeconds: number): CostEstimate {
    const seconds = Math.min(this.#maxSeconds, Math.max(0, Number.isFinite(rawSeconds) ? rawSeconds : 0));
    const key = `${from ?? IDLE}\u0000${to}`;
    const prev = this.#costs.get(key);
    const next: CostEstimate = prev
      ? {
        from: prev.from,
        to,
        seconds: this.#alpha * seconds + (1 - this.#alpha) * prev.seconds,
        samples: prev.samples + 1,
      }
      : { from: from ?? IDLE, to, seconds, samples: 1 };
    this.#costs.set(key, next);
    return next;
  }

  /** The estimate for a pair, or undefined when never observed. */
  estimate(from: string | null, to: string): number | undefined {
    return this.#costs.get(`${from ?? IDLE}\u0000${to}`)?.seconds;
  }

  /** The estimate in ms (the switcher's unit), or undefined when never observed. */
  estimateMs(from: string | null, to: string): number | undefined {
    const s = this.estimate(from, to);
    return s === undefined ? undefined : s * 1000;
  }

  all(): CostEstimate[] {
    return [...this.#costs.values()];
  }

  /**
   * Replaces the table (restoring persisted costs), keeping only plausible entries: pairs of `models`
   * ("idle" allowed as from), a finite cost within [0, maxSeconds], a positive sample count. Returns how
   * many were kept.
   */
  load(estimates: readonly CostEstimate[], models?: ReadonlySet<string>): number {
    this.#costs.clear();
    for (const e of estimates) {
      const known = !models || ((e.from === IDLE || models.has(e.from)) && models.has(e.to));
      const plausible = Number.isFinite(e.seconds) && e.seconds >= 0 && e.seconds <= this.#maxSeconds &&
        Number.isInteger(e.samples) && e.samples > 0;
      if (known && plausible) this.#costs.set(`${e.from}\u0000${e.to}`, e);
    }
    return this.#costs.size;
  }
}
