/**
 * Per-model arrival statistics, learned online, and the prediction a policy makes from them: when the
 * model's next request is due. Gaps between arrivals feed an exponential moving average and a mean
 * deviation (the estimator TCP uses for round-trip times), so a regular stream (a chat session, a client
 * that alternates models) predicts its next request closely, and a stream that went quiet stops predicting
 * as soon as it is overdue.
 */

/** What a policy sees of one model's arrivals (a snapshot; times relative to the context's `now`). */
export interface ArrivalView {
  /** Time since the model's last request arrived (Infinity when none has). */
  readonly sinceLastMs: number;
  /** Average gap between arrivals (EMA); 0 before two arrivals. */
  readonly meanGapMs: number;
  /** Mean absolute deviation of the gap (EMA). */
  readonly devGapMs: number;
  /** Gaps observed so far. */
  readonly gaps: number;
}

const ALPHA = 0.3;
const BETA = 0.3;
const NO_ARRIVALS: ArrivalView = { sinceLastMs: Infinity, meanGapMs: 0, devGapMs: 0, gaps: 0 };

/** One model's arrival statistics; `record` is on the request hot path, so it only does arithmetic. */
export class ArrivalStats {
  #last = -1;
  #mean = 0;
  #dev = 0;
  #gaps = 0;

  record(now: number): void {
    if (this.#last >= 0) {
      const gap = Math.max(0, now - this.#last);
      if (this.#gaps === 0) {
        // One gap predicts with the tolerance's floor alone; deviations widen it as they are seen.
        this.#mean = gap;
        this.#dev = 0;
      } else {
        this.#dev = (1 - BETA) * this.#dev + BETA * Math.abs(gap - this.#mean);
        this.#mean = (1 - ALPHA) * this.#mean + ALPHA * gap;
      }
      this.#gaps++;
    }
    this.#last = now;
  }

  view(now: number): ArrivalView {
    if (this.#last < 0) return NO_ARRIVALS;
    return { sinceLastMs: now - this.#last, meanGapMs: this.#mean, devGapMs: this.#dev, gaps: this.#gaps };
  }
}

/** When the next request is due (ms from now) and the standard deviation of that guess. */
export interface Expected {
  readonly dueInMs: number;
  readonly sigmaMs: number;
}

/**
 * When the model's next request is expected: a normal distribution around the mean gap after its last
 * arrival, with two standard deviations of tolerance (four mean deviations, as in TCP's retransmission
 * timeout, at least a quarter of the mean gap so one regular gap already predicts). Null when nothing is
 * expected: no gap seen yet, or the request is overdue past the tolerance (the stream went quiet).
 */
export function expectedNext(a: ArrivalView): Expected | null {
  if (a.gaps === 0) return null;
  const tolerance = Math.max(4 * a.devGapMs, 0.25 * a.meanGapMs);
  const dueInMs = a.meanGapMs - a.sinceLastMs;
  if (dueInMs + tolerance <= 0 || tolerance <= 0) return null;
  return { dueInMs, sigmaMs: tolerance / 2 };
}

/** How likely the expected request arrives within `withinMs` from now, given it has not arrived yet. */
export function chanceWithin(next: Expected | null, withinMs: number): number {
  if (!next || withinMs <= 0) return 0;
  const cdf = (x: number) => normalCdf((x - next.dueInMs) / next.sigmaMs);
  const notYet = 1 - cdf(0);
  return notYet <= 0 ? 0 : (cdf(withinMs) - cdf(0)) / notYet;
}

/** The standard normal CDF (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t *
    (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}
