import type { PolicySettings } from "../config/types.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "./policy.ts";
import { activeBusy, stalest, waitingModels } from "./queues.ts";

/**
 * The reference's TimeSlice (spec 6.4, "drain first"): arrivals switch only when stale or idle; a timer
 * tick moves to the model with the most queued requests once the active model has no work left. Fixed
 * (13.14): it also acts from idle, and `min_quantum_ms` is real: a busy model is never preempted before it
 * had that long, while a stale waiter (`max_wait_secs`) does preempt it after the quantum.
 */
export class TimeSlicePolicy implements Policy {
  readonly name = "time_slice";
  readonly tickIntervalMs: number;
  readonly #s: PolicySettings;

  constructor(settings: PolicySettings) {
    this.#s = settings;
    this.tickIntervalMs = settings.tickIntervalMs;
  }

  onPendingRequest(ctx: PolicyContext): Decision {
    if (ctx.active === null) return { kind: "switch_now" };
    const quantumOver = ctx.activeForMs >= this.#s.minQuantumMs;
    if (ctx.oldestWaitMs >= this.#s.maxWaitMs && quantumOver) return { kind: "switch_now" };
    return { kind: "skip" };
  }

  drainBeforeSwitch(): boolean {
    return this.#s.drainBeforeSwitch;
  }

  tick(ctx: ScheduleContext): string | null {
    const others = waitingModels(ctx);
    if (others.length === 0) return null;
    const deepest = () =>
      others.reduce((a, b) => ((ctx.queueDepths[b] ?? 0) > (ctx.queueDepths[a] ?? 0) ? b : a));
    // Stale first, busy, idle or mid-switch: "deepest first" alone can pass over a short queue forever.
    const quantumOver = ctx.active === null || ctx.activeForMs >= this.#s.minQuantumMs;
    const stale = quantumOver ? stalest(ctx, others, this.#s.maxWaitMs) : null;
    if (stale !== null) return stale;
    if (ctx.active === null) return deepest();
    if (!quantumOver || activeBusy(ctx) || ctx.activeForMs < this.#s.minActiveMs) return null;
    return deepest();
  }
}
