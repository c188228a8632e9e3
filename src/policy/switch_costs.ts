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
 * from = "idle". The first sample is taken as is; later ones move the average by `alpha`.
 */
export class SwitchCostTracker {
  readonly #alpha: number;
  readonly #costs = new Map<string, CostEstimate>();

  constructor(alpha = 0.3) {
    this.#alpha = alpha;
  }

  record(from: string | null, to: string, seconds: number): CostEstimate {
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

  /** Replaces the table (restoring persisted costs). */
  load(estimates: readonly CostEstimate[]): void {
    this.#costs.clear();
    for (const e of estimates) this.#costs.set(`${e.from}\u0000${e.to}`, e);
  }
}
