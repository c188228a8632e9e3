import type { PolicySettings } from "../config/types.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "./policy.ts";
import { stalest, waitingModels } from "./queues.ts";

/** Assumed switch cost before one was measured (the reference's constant). */
export const DEFAULT_COST_MS = 10_000;

/**
 * The reference's CostAware (spec 6.3) with its flaws fixed (13.13): a model leaves only after serving at
 * least as long as a switch costs, and only for a queue deep enough to amortise the switch
 * (`amortization_factor` × cost in seconds), with a `coalesce_window_ms` defer to collect demand. Costs are
 * the measured EMAs. No sticky per-model flags (the switcher owns deferral), staleness
 * (`max_wait_secs`) is also checked on a timer tick, and it switches from idle at once.
 */
export class CostAwarePolicy implements Policy {
  readonly name = "cost_aware";
  readonly tickIntervalMs: number;
  readonly #s: PolicySettings;

  constructor(settings: PolicySettings) {
    this.#s = settings;
    this.tickIntervalMs = Math.min(settings.tickIntervalMs, Math.max(50, settings.maxWaitMs / 4));
  }

  onPendingRequest(ctx: PolicyContext): Decision {
    if (ctx.oldestWaitMs >= this.#s.maxWaitMs || ctx.active === null) return { kind: "switch_now" };
    const cost = ctx.switchCostMs ?? DEFAULT_COST_MS;
    const now = ctx.now;
    if (ctx.activeForMs < cost) return { kind: "defer", until: now + (cost - ctx.activeForMs) };
    const required = Math.max(1, Math.ceil(this.#s.amortizationFactor * (cost / 1000)));
    if (ctx.targetQueueDepth >= required) return { kind: "switch_now" };
    return { kind: "defer", until: now + this.#s.coalesceWindowMs };
  }

  drainBeforeSwitch(): boolean {
    return this.#s.drainBeforeSwitch;
  }

  /** Timer-driven staleness: the model whose oldest request has waited longest past max_wait goes next. */
  tick(ctx: ScheduleContext): string | null {
    return stalest(ctx, waitingModels(ctx), this.#s.maxWaitMs);
  }
}
