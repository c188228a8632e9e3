/** What one simulated run measures, and how runs over seeds are summarised. */
export interface SimResult {
  servingFraction: number;
  /** Average wait until service starts, seconds. */
  meanWait: number;
  p50: number;
  p95: number;
  max: number;
  switches: number;
  timeouts: number;
  served: number;
  /** Requests the policy left undecided past max_wait (+ one tick of slack), see decisions.ts. */
  starved: number;
  /** The most memory any device was planned to hold (bytes; 0 without device sizes). */
  plannedHighBytes?: number;
}

/** Averages over seeds (max wait: the worst run; counts: per run). */
export function mean(runs: SimResult[]): SimResult {
  const avg = (f: (r: SimResult) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
  return {
    servingFraction: avg((r) => r.servingFraction),
    meanWait: avg((r) => r.meanWait),
    p50: avg((r) => r.p50),
    p95: avg((r) => r.p95),
    max: Math.max(...runs.map((r) => r.max)),
    switches: avg((r) => r.switches),
    timeouts: avg((r) => r.timeouts),
    served: avg((r) => r.served),
    starved: avg((r) => r.starved),
    plannedHighBytes: Math.max(...runs.map((r) => r.plannedHighBytes ?? 0)),
  };
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
