import type { PolicySettings } from "../config/types.ts";
import type { Decision, Policy, PolicyContext, ScheduleContext } from "./policy.ts";

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
    return true;
  }

  tick(ctx: ScheduleContext): string | null {
    const others = Object.keys(ctx.queueDepths).filter((m) =>
      m !== ctx.active && (ctx.queueDepths[m] ?? 0) > 0
    );
    if (others.length === 0) return null;
    const deepest = () =>
      others.reduce((a, b) => ((ctx.queueDepths[b] ?? 0) > (ctx.queueDepths[a] ?? 0) ? b : a));
    if (ctx.active === null) return deepest();
    if (ctx.activeForMs < Math.max(this.#s.minActiveMs, this.#s.minQuantumMs)) return null;
    const busy = ctx.activeInFlight > 0 || (ctx.queueDepths[ctx.active] ?? 0) > 0;
    if (!busy) return deepest();
    const stale = others.filter((m) => (ctx.oldestWaitMs[m] ?? 0) >= this.#s.maxWaitMs);
    return stale.length === 0
      ? null
      : stale.reduce((a, b) => ((ctx.oldestWaitMs[b] ?? 0) > (ctx.oldestWaitMs[a] ?? 0) ? b : a));
  }
}
