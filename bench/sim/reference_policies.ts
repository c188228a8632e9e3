/**
 * The reference's CostAware and TimeSlice as spec 6.3–6.4 describes them, flaws included (sticky defer
 * flags, staleness only on arrivals, nothing from idle in TimeSlice, min_quantum ignored). Baselines for
 * the simulator only; the daemon ships the fixed versions in src/policy/.
 */
import type { PolicySettings } from "../../src/config/types.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "../../src/policy/policy.ts";

export class ReferenceCostAware implements Policy {
  readonly name = "ref_cost_aware";
  readonly #s: PolicySettings;
  /** EMA per "from→to" in whole ms, starting at 10 s; cold starts (from = "") are not recorded. */
  readonly #table = new Map<string, { ema: number; n: number }>();
  readonly #deferPending = new Set<string>();

  constructor(settings: PolicySettings) {
    this.#s = settings;
  }

  onPendingRequest(ctx: PolicyContext): Decision {
    if (ctx.oldestWaitMs >= this.#s.maxWaitMs) return { kind: "switch_now" };
    if (ctx.active === null) return { kind: "switch_now" };
    const costMs = this.#table.get(`${ctx.active}→${ctx.target}`)?.ema ?? 10_000;
    if (ctx.activeForMs < costMs) {
      if (this.#deferPending.has(ctx.target)) return { kind: "skip" };
      this.#deferPending.add(ctx.target);
      return { kind: "defer", until: ctx.now + costMs - ctx.activeForMs };
    }
    const required = Math.max(1, Math.ceil(this.#s.amortizationFactor * (costMs / 1000)));
    if (ctx.targetQueueDepth >= required) return { kind: "switch_now" };
    if (this.#deferPending.has(ctx.target)) return { kind: "skip" };
    this.#deferPending.add(ctx.target);
    return { kind: "defer", until: ctx.now + this.#s.coalesceWindowMs };
  }

  drainBeforeSwitch(): boolean {
    return true;
  }

  onSwitchComplete(from: string | null, to: string, durationMs: number): void {
    // prepare_switch (which clears the flag) only ran when there was an outgoing model: the 13.13 flaw.
    if (from !== null) this.#deferPending.delete(to);
    if (from === null) return;
    const key = `${from}→${to}`;
    const sample = Math.min(Math.round(durationMs), 60_000);
    const prev = this.#table.get(key);
    this.#table.set(
      key,
      prev ? { ema: Math.floor((3 * sample + 7 * prev.ema) / 10), n: prev.n + 1 } : { ema: sample, n: 1 },
    );
  }
}

export class ReferenceTimeSlice implements Policy {
  readonly name = "ref_time_slice";
  readonly tickIntervalMs: number;
  readonly #s: PolicySettings;

  constructor(settings: PolicySettings) {
    this.#s = settings;
    this.tickIntervalMs = settings.tickIntervalMs;
  }

  onPendingRequest(ctx: PolicyContext): Decision {
    if (ctx.oldestWaitMs >= this.#s.maxWaitMs) return { kind: "switch_now" };
    if (ctx.active === null) return { kind: "switch_now" };
    return { kind: "skip" };
  }

  drainBeforeSwitch(): boolean {
    return true;
  }

  tick(ctx: ScheduleContext): string | null {
    if (ctx.active === null) return null;
    if (ctx.activeForMs < this.#s.minActiveMs) return null;
    if ((ctx.queueDepths[ctx.active] ?? 0) > 0 || ctx.activeInFlight > 0) return null;
    let pick: string | null = null;
    for (const [m, depth] of Object.entries(ctx.queueDepths)) {
      if (m !== ctx.active && depth > 0 && (pick === null || depth > (ctx.queueDepths[pick] ?? 0))) pick = m;
    }
    return pick;
  }
}
