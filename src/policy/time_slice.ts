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
    return this.#s.drainBeforeSwitch;
  }

  tick(ctx: ScheduleContext): string | null {
    const others = Object.keys(ctx.queueDepths).filter((m) =>
      m !== ctx.active && (ctx.queueDepths[m] ?? 0) > 0
    );
    if (others.length === 0) return null;
    const wait = (m: string) => ctx.oldestWaitMs[m] ?? 0;
    const deepest = () =>
      others.reduce((a, b) => ((ctx.queueDepths[b] ?? 0) > (ctx.queueDepths[a] ?? 0) ? b : a));
    // Stale first, busy, idle or mid-switch: "deepest first" alone can pass over a short queue forever.
    const stale = others.filter((m) => wait(m) >= this.#s.maxWaitMs && !ctx.switchesPending.includes(m));
    const quantumOver = ctx.active === null || ctx.activeForMs >= this.#s.minQuantumMs;
    if (stale.length > 0 && quantumOver) return stale.reduce((a, b) => (wait(b) > wait(a) ? b : a));
    if (ctx.active === null) return deepest();
    if (ctx.activeForMs < this.#s.minQuantumMs) return null;
    const busy = ctx.activeInFlight > 0 || (ctx.queueDepths[ctx.active] ?? 0) > 0;
    return busy || ctx.activeForMs < this.#s.minActiveMs ? null : deepest();
  }
}
