/**
 * The goal for a candidate policy in one case (profile × switch cost), judged on runs over the
 * same seeds: serving fraction at least every reference's, p95 wait at most 1.1 × FIFO's, nothing
 * starved. Serving is compared per seed (paired differences): the runs are chaotic, and the best of three
 * noisy means beats any single policy's mean by chance, so "at least" means "not below by more than
 * two standard errors of the paired difference". The strict comparison of means is reported too.
 */
import { mean, type SimResult } from "./results.ts";

export const REFERENCES = ["fifo", "ref_cost_aware", "ref_time_slice"] as const;

export interface Verdict {
  /** Serving not significantly below any reference (paired, 2 SE). */
  readonly serving: boolean;
  /** Mean serving at least the best reference's mean. */
  readonly servingStrict: boolean;
  /** Mean serving significantly above the best reference's (paired, 2 SE). */
  readonly servingAhead: boolean;
  readonly p95: boolean;
  readonly starved: boolean;
  /** The reference the candidate trails most, with the paired difference and its standard error (points). */
  readonly against: { readonly policy: string; readonly deltaPts: number; readonly sePts: number };
}

function paired(a: SimResult[], b: SimResult[]): { mean: number; se: number } {
  const d = a.map((r, i) => (r.servingFraction - b[i]!.servingFraction) * 100);
  const m = d.reduce((x, y) => x + y, 0) / d.length;
  const variance = d.length > 1 ? d.reduce((x, y) => x + (y - m) ** 2, 0) / (d.length - 1) : 0;
  return { mean: m, se: Math.sqrt(variance / d.length) };
}

export function judge(runs: Readonly<Record<string, SimResult[]>>, candidate: string): Verdict {
  const mine = runs[candidate]!;
  const cmp = REFERENCES.map((policy) => ({ policy, ...paired(mine, runs[policy]!) }));
  const worst = cmp.reduce((a, b) => (b.mean < a.mean ? b : a));
  const best = REFERENCES.reduce((a, b) =>
    mean(runs[b]!).servingFraction > mean(runs[a]!).servingFraction ? b : a
  );
  const bestCmp = cmp.find((c) => c.policy === best)!;
  const m = mean(mine);
  return {
    serving: cmp.every((c) => c.mean >= -2 * c.se - 1e-9),
    servingStrict: m.servingFraction >= mean(runs[best]!).servingFraction - 1e-12,
    servingAhead: bestCmp.mean > 2 * bestCmp.se && bestCmp.mean > 0,
    p95: m.p95 <= mean(runs.fifo!).p95 * 1.1 + 1e-9,
    starved: mine.every((r) => r.starved === 0),
    against: { policy: worst.policy, deltaPts: worst.mean, sePts: worst.se },
  };
}
